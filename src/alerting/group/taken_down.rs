//! The index of which targets each failing parent took down, built from the live states once
//! per grouping pass so a parent's message can list its UNREACHABLE dependants.

use std::collections::{HashMap, HashSet};

use super::target_labels;
use crate::alerting::model::Explained;
use crate::config::Config;
use crate::state::State;

/// Which targets each target took down: the UNREACHABLE ones, by the parent that explains them.
#[derive(Debug, Default)]
pub struct TakenDown {
    children: HashMap<String, Vec<Explained>>,
}

impl TakenDown {
    /// From the live states, once per grouping pass (one look at each dependant).
    pub fn from_board(cfg: &Config, board: &crate::status::Board) -> TakenDown {
        let mut children: HashMap<String, Vec<Explained>> = HashMap::new();
        for t in cfg.targets.iter().filter(|t| !t.depends_on.is_empty()) {
            if let Some(s) = board.get(&t.id)
                && s.state.state == State::Unreachable
                && let Some(parent) = s.state.explained_by
            {
                children.entry(parent).or_default().push(Explained {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    labels: target_labels(t),
                });
            }
        }
        TakenDown { children }
    }

    /// Everything `id` took down: its UNREACHABLE dependants and, through those, theirs (a
    /// power zone takes down an uplink and the base stations behind it). By commune, then name.
    pub fn by(&self, id: &str) -> Vec<Explained> {
        let mut out: Vec<Explained> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::from([id]);
        let mut queue = vec![id];
        while let Some(p) = queue.pop() {
            for c in self.children.get(p).into_iter().flatten() {
                if seen.insert(c.id.as_str()) {
                    queue.push(c.id.as_str());
                    out.push(c.clone());
                }
            }
        }
        let commune = |e: &Explained| e.labels.get("commune").cloned().unwrap_or_default();
        out.sort_by(|a, b| {
            commune(a)
                .cmp(&commune(b))
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.id.cmp(&b.id))
        });
        out
    }
}

//! The storm, as data: a list of timed steps (offsets from the drill's start), each changing
//! some simulated endpoints or heartbeats and writing a timeline note, so the demo plays it
//! and a test (or the after-action report) can know the truth — which target was failing,
//! degraded or healthy at any moment, and what the notes said to expect.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::world::{Layout, Zone};
use super::{DemoError, Pace};
use crate::rig::sim::Behaviour;

/// What a change does to its targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The simulated endpoint answers normally again.
    Healthy,
    /// Connections (or DNS queries) are refused.
    Refuse,
    /// Connections are accepted (or queries read) and never answered.
    Hang,
    /// Answers arrive after this delay (HTTP and DNS).
    Slow { seconds: f64 },
    /// HTTP answers with this status.
    Status { code: u16 },
    /// The site stops pushing heartbeats.
    StopHeartbeat,
    /// The site pushes heartbeats again.
    Heartbeat,
}

impl Action {
    /// The simulator behaviour for endpoint actions; `None` for heartbeat actions.
    pub fn behaviour(self) -> Option<Behaviour> {
        Some(match self {
            Action::Healthy => Behaviour::Healthy,
            Action::Refuse => Behaviour::Refuse,
            Action::Hang => Behaviour::Hang,
            Action::Slow { seconds } => Behaviour::Slow(Duration::from_secs_f64(seconds)),
            Action::Status { code } => Behaviour::Status(code),
            Action::StopHeartbeat | Action::Heartbeat => return None,
        })
    }

    /// What a probe of a target in this condition concludes, given the latency limit of the
    /// degraded checks.
    fn condition(self, latency_limit: Duration) -> Condition {
        match self {
            Action::Healthy | Action::Heartbeat => Condition::Healthy,
            Action::Refuse | Action::Hang | Action::StopHeartbeat => Condition::Failing,
            Action::Status { code } if !(200..300).contains(&code) => Condition::Failing,
            Action::Status { .. } => Condition::Healthy,
            Action::Slow { seconds } if seconds > latency_limit.as_secs_f64() => {
                Condition::Degraded
            }
            Action::Slow { .. } => Condition::Healthy,
        }
    }
}

/// How a target should look to a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    Healthy,
    Degraded,
    Failing,
}

/// One action over a set of targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub targets: Vec<String>,
    #[serde(flatten)]
    pub action: Action,
}

/// A timeline note the demo writes when a step plays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteSpec {
    pub author: String,
    pub text: String,
    /// Targets failed on purpose by this step (an injected fault).
    pub expect_down: Vec<String>,
    /// When the fault is planned to end, from the drill's start; `None`: not within the drill.
    #[serde(with = "opt_secs")]
    pub until: Option<Duration>,
}

/// One moment of the storm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// From the drill's start.
    #[serde(with = "secs")]
    pub at: Duration,
    /// One line for the console, in English.
    pub summary: String,
    pub changes: Vec<Change>,
    pub note: Option<NoteSpec>,
}

/// The whole storm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Script {
    /// In force before the drill starts (the commune that is dark all along).
    pub initial: Vec<Change>,
    pub steps: Vec<Step>,
    /// The drill's length; the demo stops it then.
    #[serde(with = "secs")]
    pub drill: Duration,
    /// Slower answers than this degrade a target.
    #[serde(with = "secs")]
    pub latency_limit: Duration,
    /// Child -> the power zone it depends on.
    pub parents: BTreeMap<String, String>,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

mod opt_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

fn change(targets: Vec<String>, action: Action) -> Change {
    Change { targets, action }
}

fn note(
    author: &str,
    text: String,
    expect_down: Vec<String>,
    until: Option<Duration>,
) -> Option<NoteSpec> {
    Some(NoteSpec {
        author: author.to_string(),
        text,
        expect_down,
        until,
    })
}

/// Authors of the notes: the roles that write them in a real drill.
const DUTY: &str = "Trực ban Sở KH&CN";
const GRID: &str = "Điều độ điện lực";
const VIETTEL: &str = "Viettel Hà Tĩnh";
const FPT: &str = "FPT Telecom Hà Tĩnh";

/// Offsets of the steps, in drill intervals from the drill's start. The gaps leave each
/// change time to be detected (failure threshold plus heartbeat grace) before the next one.
pub mod at {
    pub const GRID_LOST: f64 = 4.0;
    pub const BATTERIES_OUT: f64 = 10.0;
    pub const FPT_DEGRADES: f64 = 14.0;
    pub const VIETTEL_BTS: f64 = 24.0;
    pub const FPT_RESTORED: f64 = 30.0;
    pub const GRID_RESTORED: f64 = 36.0;
}

/// The storm over `layout`, timed by `pace`. The last power zone (for Hà Tĩnh the southern
/// coast around Kỳ Anh, where storms make landfall) loses the grid.
pub fn storm(layout: &Layout, pace: &Pace) -> Result<Script, DemoError> {
    let zone_idx = layout.zones.len().saturating_sub(1);
    let Some(zone) = layout.zones.get(zone_idx) else {
        return Err(DemoError::Setup("the province has no communes".into()));
    };
    let hit = Hit::find(layout, zone_idx);
    let zone_names = format!("{} ({} xã, phường)", zone.area, zone.communes.len());
    // The order is the storm's: the steps of one instant play in this order, and the truth
    // and the notes of the report follow it.
    let steps = vec![
        drill_starts(layout),
        dark_all_along(layout, &hit),
        grid_lost(zone, &zone_names, pace),
        batteries_out(zone, &zone_names, pace),
        fpt_degrades(&hit, pace),
        viettel_back(&hit, &zone_names, pace),
        fpt_restored(&hit, pace),
        grid_restored(zone, &zone_names, pace),
    ];
    let parents = layout
        .zones
        .iter()
        .flat_map(|z| z.children.iter().map(move |c| (c.clone(), z.id.clone())))
        .collect();
    Ok(Script {
        initial: vec![change(hit.dark, Action::Hang)],
        steps,
        drill: pace.drill(),
        latency_limit: pace.latency_limit(),
        parents,
    })
}

/// The targets the storm hits beyond the power zone's own children, by target id.
struct Hit {
    /// Every target of the commune that is dark all along.
    dark: Vec<String>,
    /// Viettel's sites in the power zone: the ones it brings back on generators.
    viettel_in_zone: Vec<String>,
    /// FPT's lines that fail while it degrades (every third one)...
    fpt_failing: Vec<String>,
    /// ...and the rest, which answer slowly.
    fpt_slow: Vec<String>,
    /// Both together, in the inventory's order.
    fpt_all: Vec<String>,
    /// FPT's resolvers, which slow down with its lines.
    fpt_dns: Vec<String>,
}

impl Hit {
    fn find(layout: &Layout, zone_idx: usize) -> Hit {
        let in_zone = |i: usize| layout.zone_of(i) == Some(zone_idx);
        let dark: Vec<String> = layout
            .inventory
            .entries
            .iter()
            .filter(|e| e.commune == layout.dark_commune)
            .map(|e| e.id.clone())
            .collect();
        let viettel_in_zone: Vec<String> = layout
            .entries_of("viettel")
            .filter(|(i, _)| in_zone(*i))
            .map(|(_, e)| e.id.clone())
            .collect();
        // FPT outside the storm zone and the dark commune: every third commune's line fails
        // (the loss), the rest answer slowly (the latency).
        let fpt: Vec<(usize, String)> = layout
            .entries_of("fpt")
            .filter(|(i, e)| !in_zone(*i) && e.commune != layout.dark_commune)
            .map(|(i, e)| (i, e.id.clone()))
            .collect();
        let fpt_failing: Vec<String> = fpt
            .iter()
            .enumerate()
            .filter(|(n, _)| n % 3 == 0)
            .map(|(_, (_, id))| id.clone())
            .collect();
        let fpt_slow: Vec<String> = fpt
            .iter()
            .map(|(_, id)| id.clone())
            .filter(|id| !fpt_failing.contains(id))
            .collect();
        let fpt_all: Vec<String> = fpt.iter().map(|(_, id)| id.clone()).collect();
        let fpt_dns: Vec<String> = layout
            .entries_of("dns-fpt")
            .map(|(_, e)| e.id.clone())
            .collect();
        Hit {
            dark,
            viettel_in_zone,
            fpt_failing,
            fpt_slow,
            fpt_all,
            fpt_dns,
        }
    }
}

/// The duty officer opens the drill.
fn drill_starts(layout: &Layout) -> Step {
    Step {
        at: Duration::ZERO,
        summary: format!("drill starts over {} targets", layout.target_count()),
        changes: vec![],
        note: note(
            DUTY,
            format!(
                "Bắt đầu diễn tập. Kịch bản: bão đổ bộ vào ven biển phía nam tỉnh {}; \
                 các đơn vị báo cáo tình trạng thông tin liên lạc theo kịch bản.",
                layout.province
            ),
            vec![],
            None,
        ),
    }
}

/// The dark commune is on record from the start; its fault is the script's initial change.
fn dark_all_along(layout: &Layout, hit: &Hit) -> Step {
    Step {
        at: Duration::ZERO,
        summary: format!(
            "{} has been cut off since before the drill (landslide)",
            layout.dark_commune_full
        ),
        changes: vec![],
        note: note(
            DUTY,
            format!(
                "{} mất liên lạc hoàn toàn từ trước diễn tập (sạt lở đất, đứt cáp); \
                 chưa có phương án khôi phục trong thời gian diễn tập.",
                layout.dark_commune_full
            ),
            hit.dark.clone(),
            None,
        ),
    }
}

/// Landfall: the zone's heartbeat stops, its sites run on batteries.
fn grid_lost(zone: &Zone, zone_names: &str, pace: &Pace) -> Step {
    Step {
        at: pace.units(at::GRID_LOST),
        summary: format!("landfall: grid power lost in {}", zone.name),
        changes: vec![change(vec![zone.id.clone()], Action::StopHeartbeat)],
        note: note(
            GRID,
            format!("Bão đổ bộ: mất điện lưới {zone_names}. Trạm BTS chuyển sang chạy ắc quy."),
            vec![zone.id.clone()],
            Some(pace.units(at::GRID_RESTORED)),
        ),
    }
}

/// The batteries run out: every site in the zone goes down.
fn batteries_out(zone: &Zone, zone_names: &str, pace: &Pace) -> Step {
    Step {
        at: pace.units(at::BATTERIES_OUT),
        summary: format!(
            "batteries exhausted: {} targets in the zone go down",
            zone.children.len()
        ),
        changes: vec![change(zone.children.clone(), Action::Refuse)],
        note: note(
            DUTY,
            format!(
                "Hết ắc quy dự phòng: mất sóng di động, Internet, bưu cục và mạng truyền số liệu \
                 chuyên dùng tại {zone_names}."
            ),
            zone.children.clone(),
            Some(pace.units(at::GRID_RESTORED)),
        ),
    }
}

/// FPT's trunk is hit: some lines fail, the rest and its resolvers answer slowly.
fn fpt_degrades(hit: &Hit, pace: &Pace) -> Step {
    let slow = Action::Slow {
        seconds: pace.slow().as_secs_f64(),
    };
    Step {
        at: pace.units(at::FPT_DEGRADES),
        summary: format!(
            "FPT degrades: {} lines fail, {} answer slowly, its DNS slows down",
            hit.fpt_failing.len(),
            hit.fpt_slow.len()
        ),
        changes: vec![
            change(hit.fpt_failing.clone(), Action::Status { code: 503 }),
            change(hit.fpt_slow.clone(), slow),
            change(hit.fpt_dns.clone(), slow),
        ],
        note: note(
            FPT,
            "Tuyến cáp quang trục bị ảnh hưởng: FPT suy giảm chất lượng toàn tỉnh, \
             một phần thuê bao mất kết nối, độ trễ tăng."
                .to_string(),
            hit.fpt_failing.clone(),
            Some(pace.units(at::FPT_RESTORED)),
        ),
    }
}

/// Viettel restores its own sites in the zone before the grid returns.
fn viettel_back(hit: &Hit, zone_names: &str, pace: &Pace) -> Step {
    Step {
        at: pace.units(at::VIETTEL_BTS),
        summary: format!(
            "Viettel brings {} sites back on generators and mobile BTS",
            hit.viettel_in_zone.len()
        ),
        changes: vec![change(hit.viettel_in_zone.clone(), Action::Healthy)],
        note: note(
            VIETTEL,
            format!(
                "Viettel triển khai trạm BTS lưu động và máy phát điện, khôi phục sóng di động \
                 tại {zone_names}."
            ),
            vec![],
            None,
        ),
    }
}

/// FPT reroutes: its lines and resolvers are back.
fn fpt_restored(hit: &Hit, pace: &Pace) -> Step {
    Step {
        at: pace.units(at::FPT_RESTORED),
        summary: "FPT reroutes traffic: lines and DNS back to normal".to_string(),
        changes: vec![
            change(hit.fpt_all.clone(), Action::Healthy),
            change(hit.fpt_dns.clone(), Action::Healthy),
        ],
        note: note(
            FPT,
            "FPT chuyển hướng lưu lượng qua tuyến dự phòng, chất lượng trở lại bình thường."
                .to_string(),
            vec![],
            None,
        ),
    }
}

/// The grid returns: the zone's heartbeat and every site in it.
fn grid_restored(zone: &Zone, zone_names: &str, pace: &Pace) -> Step {
    Step {
        at: pace.units(at::GRID_RESTORED),
        summary: format!("grid power restored in {}", zone.name),
        changes: vec![
            change(vec![zone.id.clone()], Action::Heartbeat),
            change(zone.children.clone(), Action::Healthy),
        ],
        note: note(
            GRID,
            format!("Khôi phục điện lưới {zone_names}; các trạm hoạt động trở lại."),
            vec![],
            None,
        ),
    }
}

impl Script {
    /// Every target a change touches.
    pub fn touched(&self) -> BTreeSet<&str> {
        self.initial
            .iter()
            .chain(self.steps.iter().flat_map(|s| s.changes.iter()))
            .flat_map(|c| c.targets.iter().map(String::as_str))
            .collect()
    }

    /// The condition `target` is in at `at` from the drill's start (the initial changes hold
    /// before the first step).
    pub fn condition(&self, target: &str, at: Duration) -> Condition {
        let mut c = Condition::Healthy;
        let steps = self.steps.iter().filter(|s| s.at <= at);
        for ch in self
            .initial
            .iter()
            .chain(steps.flat_map(|s| s.changes.iter()))
        {
            if ch.targets.iter().any(|t| t == target) {
                c = ch.action.condition(self.latency_limit);
            }
        }
        c
    }

    /// The state commwatch should show once the condition at `at` has been detected:
    /// `up`, `degraded`, `down`, or `unreachable` (failing while its power zone fails).
    pub fn expected_state(&self, target: &str, at: Duration) -> &'static str {
        match self.condition(target, at) {
            Condition::Healthy => "up",
            Condition::Degraded => "degraded",
            Condition::Failing => match self.parents.get(target) {
                Some(p) if self.condition(p, at) == Condition::Failing => "unreachable",
                _ => "down",
            },
        }
    }

    /// The spans during which each target was failing or degraded, given when each step
    /// actually played (`played[i]` for `steps[i]`) and when the drill ended. Spans still
    /// open at `end` end there with `open = true`.
    pub fn truth(
        &self,
        started: DateTime<Utc>,
        played: &[DateTime<Utc>],
        end: DateTime<Utc>,
    ) -> Vec<Span> {
        let mut open: BTreeMap<String, (Condition, DateTime<Utc>)> = BTreeMap::new();
        for ch in &self.initial {
            let c = ch.action.condition(self.latency_limit);
            for t in &ch.targets {
                if c != Condition::Healthy {
                    open.insert(t.clone(), (c, started));
                }
            }
        }
        let mut spans = Vec::new();
        for (step, at) in self.steps.iter().zip(played) {
            for ch in &step.changes {
                let c = ch.action.condition(self.latency_limit);
                for t in &ch.targets {
                    match open.remove(t) {
                        Some((prev, from)) if prev == c => {
                            open.insert(t.clone(), (prev, from));
                            continue;
                        }
                        Some((prev, from)) => spans.push(Span {
                            target: t.clone(),
                            condition: prev,
                            from,
                            to: *at,
                            open: false,
                        }),
                        None => {}
                    }
                    if c != Condition::Healthy {
                        open.insert(t.clone(), (c, *at));
                    }
                }
            }
        }
        for (target, (condition, from)) in open {
            spans.push(Span {
                target,
                condition,
                from,
                to: end,
                open: true,
            });
        }
        spans.sort_by(|a, b| (a.from, &a.target).cmp(&(b.from, &b.target)));
        spans
    }
}

/// One stretch of trouble, for the truth file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub target: String,
    pub condition: Condition,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Still going when the drill ended.
    pub open: bool,
}

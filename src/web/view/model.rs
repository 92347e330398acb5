//! Views shared by pages and the JSON API: incidents with their target's name, labels and
//! acknowledgements, and a group's targets with availability over a range.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Labels;
use crate::shared::AppState;
use crate::state::State;
use crate::store::acks::Ack;
use crate::store::{Availability, IncidentFilter, IncidentRow, StoreError};
use crate::web::error::ApiError;
use crate::web::view::query::{Query, bounded, time_range};

pub fn internal(e: StoreError) -> ApiError {
    ApiError::store(&e)
}

/// An incident as pages and `/api/v1/incidents` show it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: IncidentRow,
    /// The target's name and labels; absent when the target has left the configuration.
    pub name: Option<String>,
    pub labels: Option<Labels>,
    pub acknowledged: bool,
    pub acks: Vec<Ack>,
}

/// Incidents matching `f`, with names, labels and acknowledgements.
pub async fn incidents(state: &AppState, f: IncidentFilter) -> Result<Vec<IncidentView>, ApiError> {
    let rows = state.store.incidents(f).await.map_err(internal)?;
    let mut acks = state
        .store
        .acks_for(rows.iter().map(|i| i.id).collect())
        .await
        .map_err(internal)?;
    Ok(rows
        .into_iter()
        .map(|i| {
            let t = state.board.get(&i.target);
            let acks = acks.remove(&i.id).unwrap_or_default();
            IncidentView {
                name: t.as_ref().map(|t| t.target.name.clone()),
                labels: t.map(|t| t.target.labels.clone()),
                acknowledged: !acks.is_empty(),
                acks,
                incident: i,
            }
        })
        .collect())
}

/// Open incidents for the top of the overview: unacknowledged first, then newest first.
pub async fn open_incidents(
    state: &AppState,
    targets: Option<Vec<String>>,
    limit: usize,
) -> Result<Vec<IncidentView>, ApiError> {
    // Read a few more than shown so unacknowledged ones are not pushed off by newer acked ones.
    let mut v = incidents(
        state,
        IncidentFilter {
            open: Some(true),
            targets,
            limit: limit * 4,
            ..IncidentFilter::default()
        },
    )
    .await?;
    v.sort_by_key(|i| (i.acknowledged, std::cmp::Reverse(i.incident.started_at)));
    v.truncate(limit);
    Ok(v)
}

/// Which label a group is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Operator,
    Service,
    Province,
    Commune,
}

impl GroupBy {
    pub const ALL: [GroupBy; 4] = [
        GroupBy::Operator,
        GroupBy::Service,
        GroupBy::Province,
        GroupBy::Commune,
    ];

    pub fn parse(s: &str) -> Option<GroupBy> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Operator => "operator",
            GroupBy::Service => "service",
            GroupBy::Province => "province",
            GroupBy::Commune => "commune",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label(self, l: &Labels) -> &str {
        match self {
            GroupBy::Operator => &l.operator,
            GroupBy::Service => &l.service,
            GroupBy::Province => &l.province,
            GroupBy::Commune => &l.commune,
        }
    }
}

/// One target of a group, with its availability over the range.
#[derive(Debug, Clone, Serialize)]
pub struct GroupTarget {
    pub id: String,
    pub name: String,
    pub labels: Labels,
    pub state: State,
    pub since: DateTime<Utc>,
    pub availability: Availability,
}

/// A group (one operator, one commune ...) over a range.
#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    pub by: GroupBy,
    pub key: String,
    /// Set when a commune group was narrowed to one province (commune names repeat).
    pub province: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub availability: Availability,
    pub states: crate::web::view::overview::StateCounts,
    pub targets: Vec<GroupTarget>,
    pub incidents_open: Vec<IncidentView>,
}

/// Builds a group's view; `None` when no configured target carries that label value.
pub async fn group(
    state: &AppState,
    by: GroupBy,
    key: &str,
    province: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<GroupView>, ApiError> {
    let rows: Vec<_> = state
        .board
        .snapshot()
        .into_iter()
        .filter(|r| {
            by.label(&r.target.labels) == key
                && province.is_none_or(|p| r.target.labels.province == p)
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = rows.iter().map(|r| r.target.id.clone()).collect();
    let total = state
        .store
        .group_availability(ids.clone(), from, to)
        .await
        .map_err(internal)?;
    let mut per: HashMap<String, Availability> = state
        .store
        .availability(Some(ids.clone()), from, to)
        .await
        .map_err(internal)?;
    let mut states = crate::web::view::overview::StateCounts::default();
    let mut targets: Vec<GroupTarget> = rows
        .iter()
        .map(|r| {
            *states.0.entry(r.state.state.as_str()).or_default() += 1;
            GroupTarget {
                id: r.target.id.clone(),
                name: r.target.name.clone(),
                labels: r.target.labels.clone(),
                state: r.state.state,
                since: r.state.since,
                availability: per.remove(&r.target.id).unwrap_or_default(),
            }
        })
        .collect();
    // Worst first: current state, then the lowest availability over the range.
    targets.sort_by(|a, b| {
        let ra = a.availability.ratio.unwrap_or(1.0);
        let rb = b.availability.ratio.unwrap_or(1.0);
        a.state
            .severity()
            .cmp(&b.state.severity())
            .then(ra.total_cmp(&rb))
            .then_with(|| (&a.labels.commune, &a.name).cmp(&(&b.labels.commune, &b.name)))
    });
    let open = open_incidents(state, Some(ids), 50).await?;
    Ok(Some(GroupView {
        by,
        key: key.to_string(),
        province: province.map(str::to_string),
        from,
        to,
        availability: total,
        states,
        targets,
        incidents_open: open,
    }))
}

/// Reads an incident query: `status` (open, closed, all), `from`/`to`/`range`, `target`, label
/// filters (`operator`, `service`, `province`, `commune`), `limit` and `offset`.
pub fn incident_filter(state: &AppState, q: &Query) -> Result<IncidentFilter, ApiError> {
    let open = match q.get("status").map(String::as_str) {
        None | Some("all") | Some("") => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`status` must be open, closed or all, not `{other}`"),
            ));
        }
    };
    let (from, to) = if ["from", "range", "to"].iter().any(|k| q.contains_key(*k)) {
        let (f, t) = time_range(q)?;
        (Some(f), Some(t))
    } else {
        (None, None)
    };
    let labels: Vec<(GroupBy, &String)> = GroupBy::ALL
        .iter()
        .filter_map(|g| q.get(g.as_str()).filter(|v| !v.is_empty()).map(|v| (*g, v)))
        .collect();
    let targets = match q.get("target") {
        Some(t) => {
            if state.board.get(t).is_none() {
                return Err(ApiError::not_found(format!("no target with id `{t}`")));
            }
            Some(vec![t.clone()])
        }
        None if !labels.is_empty() => Some(
            state
                .board
                .snapshot()
                .into_iter()
                .filter(|r| labels.iter().all(|(g, v)| g.label(&r.target.labels) == *v))
                .map(|r| r.target.id.clone())
                .collect(),
        ),
        None => None,
    };
    Ok(IncidentFilter {
        open,
        targets,
        from,
        to,
        limit: bounded(q, "limit", 100, 1_000)?.max(1),
        offset: bounded(q, "offset", 0, 1_000_000)?,
    })
}

/// One group in the list of groups: its size, how many are down now, availability over a range.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupSummary {
    pub key: String,
    /// For communes: the province, since commune names repeat across provinces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    pub targets: usize,
    pub down_now: usize,
    pub count: u64,
    pub ok: u64,
    pub degraded: u64,
    pub ratio: Option<f64>,
}

/// Every group of `by`, lowest availability first.
pub async fn group_index(
    state: &AppState,
    by: GroupBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<GroupSummary>, ApiError> {
    let rows = state.board.snapshot();
    let per_target = state
        .store
        .availability(None, from, to)
        .await
        .map_err(internal)?;
    let mut groups: std::collections::BTreeMap<(String, Option<String>), GroupSummary> =
        std::collections::BTreeMap::new();
    for r in &rows {
        let l = &r.target.labels;
        let province = (by == GroupBy::Commune).then(|| l.province.clone());
        let key = by.label(l).to_string();
        let g = groups
            .entry((key.clone(), province.clone()))
            .or_insert_with(|| GroupSummary {
                key,
                province,
                ..GroupSummary::default()
            });
        g.targets += 1;
        if matches!(r.state.state, State::Down | State::Unreachable) {
            g.down_now += 1;
        }
        if let Some(a) = per_target.get(&r.target.id) {
            g.count += a.count;
            g.ok += a.ok;
            g.degraded += a.degraded;
        }
    }
    let mut out: Vec<GroupSummary> = groups.into_values().collect();
    for g in &mut out {
        g.ratio = (g.count > 0).then(|| g.ok as f64 / g.count as f64);
    }
    out.sort_by(|a, b| {
        b.down_now
            .cmp(&a.down_now)
            .then(a.ratio.unwrap_or(1.0).total_cmp(&b.ratio.unwrap_or(1.0)))
            .then_with(|| a.key.cmp(&b.key))
    });
    Ok(out)
}

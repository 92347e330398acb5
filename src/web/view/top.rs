//! What sits above the overview's grid (isolation, running drills, the newest open incidents)
//! and the whole overview model for a request: the page, its live fragments and
//! `/api/v1/overview` all load it here.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{self, IncidentView};
use super::overview::{self, Filter, Overview};
use super::query::Query;
use crate::shared::AppState;
use crate::web::error::ApiError;

/// Open incidents listed on top of the overview; the rest are one link away.
pub const TOP_INCIDENTS: usize = 10;

/// An active drill, shown above everything else while it runs.
#[derive(Debug, Clone, Serialize)]
pub struct DrillBanner {
    pub id: String,
    pub name: String,
    pub started_at: DateTime<Utc>,
    /// When it ends by itself.
    pub planned_end: DateTime<Utc>,
}

/// What sits above the grid.
#[derive(Debug, Clone, Serialize)]
pub struct Top {
    pub monitor_isolated: bool,
    pub drills: Vec<DrillBanner>,
    pub incidents: Vec<IncidentView>,
}

/// Drills in progress, oldest first; the page, the `/fragments/top` refresh and
/// `/api/v1/overview` all show them.
pub fn active_drills(state: &AppState) -> Vec<DrillBanner> {
    let mut list: Vec<DrillBanner> = state
        .drills
        .running()
        .iter()
        .map(|d| DrillBanner {
            id: d.id.to_string(),
            name: d.name.clone(),
            started_at: d.started_at,
            planned_end: d.planned_end,
        })
        .collect();
    list.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    list
}

/// Everything above the grid, for the overview's scope (one province or all).
pub async fn load_top(state: &AppState, ov: &Overview) -> Result<Top, ApiError> {
    let scope = ov.filter.province.as_ref().map(|p| {
        state
            .board
            .snapshot()
            .into_iter()
            .filter(|r| &r.target.labels.province == p)
            .map(|r| r.target.id.clone())
            .collect()
    });
    Ok(Top {
        monitor_isolated: state.metrics.monitor_isolated.get() == 1,
        drills: active_drills(state),
        incidents: model::open_incidents(state, scope, TOP_INCIDENTS).await?,
    })
}

/// Builds the model for a request.
pub async fn load(state: &AppState, q: &Query) -> Result<(Overview, Top), ApiError> {
    let filter = Filter::parse(q)?;
    let ov = overview::build(&state.board.snapshot(), filter, crate::time::now_ms());
    let top = load_top(state, &ov).await?;
    Ok((ov, top))
}

//! `/api/v1` JSON handlers.

use chrono::Utc;
use serde::Serialize;
use warp::Reply;

use super::error::ApiError;
use crate::app::AppState;
use crate::config::Labels;
use crate::state::State;
use crate::status::{LastResult, TargetStatus};
use crate::store::StoredSample;

/// One target as the API shows it; the field names are part of the user-facing contract.
#[derive(Serialize)]
pub struct TargetView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub endpoint: String,
    pub operator: &'a str,
    pub service: &'a str,
    pub province: &'a str,
    pub commune: &'a str,
    pub tags: &'a [String],
    pub labels: &'a Labels,
    pub depends_on: &'a [String],
    pub state: State,
    pub since: chrono::DateTime<Utc>,
    pub interval_seconds: f64,
    pub timeout_seconds: f64,
    pub last: Option<&'a LastResult>,
}

impl<'a> TargetView<'a> {
    pub fn of(s: &'a TargetStatus) -> Self {
        let t = &s.target;
        TargetView {
            id: &t.id,
            name: &t.name,
            kind: t.kind(),
            endpoint: t.spec.endpoint(),
            operator: &t.labels.operator,
            service: &t.labels.service,
            province: &t.labels.province,
            commune: &t.labels.commune,
            tags: &t.labels.tags,
            labels: &t.labels,
            depends_on: &t.depends_on,
            state: s.state.state,
            since: s.state.since,
            interval_seconds: t.interval.as_secs_f64(),
            timeout_seconds: t.timeout.as_secs_f64(),
            last: s.last.as_ref(),
        }
    }
}

pub async fn targets(state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let rows = state.board.snapshot();
    #[derive(Serialize)]
    struct Out<'a> {
        generated_at: chrono::DateTime<Utc>,
        count: usize,
        targets: Vec<TargetView<'a>>,
    }
    let out = Out {
        generated_at: Utc::now(),
        count: rows.len(),
        targets: rows.iter().map(TargetView::of).collect(),
    };
    Ok(warp::reply::json(&out).into_response())
}

pub async fn target(id: String, state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let Some(row) = state.board.get(&id) else {
        return Err(warp::reject::custom(ApiError::not_found(format!(
            "no target with id `{id}`"
        ))));
    };
    let recent = state
        .store
        .recent_samples(&id, 50)
        .await
        .map_err(|e| warp::reject::custom(ApiError::internal(e.to_string())))?;
    #[derive(Serialize)]
    struct Out<'a> {
        target: TargetView<'a>,
        recent_samples: Vec<StoredSample>,
    }
    Ok(warp::reply::json(&Out {
        target: TargetView::of(&row),
        recent_samples: recent,
    })
    .into_response())
}

//! Drills as both sides read them: the request bodies a drill start or note arrives as (the
//! API's JSON and the page forms), turned into what the drill module starts or records, and
//! the after-action report loaded for a drill.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::config::drills::{
    DEFAULT_BASELINE, DEFAULT_DRILL_INTERVAL, DrillDefaults, OneOrMany, Scope,
};
use crate::drill::report::{self, Report};
use crate::drill::{NewDrill, NewNote};
use crate::shared::AppState;
use crate::web::compress;
use crate::web::error::{ApiError, internal, reject};

/// What `POST /api/v1/drills` accepts: `name` alone starts a drill over every target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    pub name: String,
    #[serde(default)]
    pub scenario: String,
    /// Label -> value or values; `{}` or none covers every target.
    #[serde(default)]
    pub scope: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    pub leaders: Vec<String>,
    /// Probing interval in scope, e.g. "10s".
    pub interval: Option<String>,
    /// Planned length, e.g. "2h"; the drill ends by itself then. None: open-ended, until it is
    /// stopped or `[drill_defaults] open_ended` (72 h unless set) has passed.
    pub duration: Option<String>,
    /// Comparison window before the start, e.g. "7d".
    pub baseline: Option<String>,
}

/// What `POST /api/v1/drills/{id}/notes` accepts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub text: String,
    /// When it happened; defaults to now.
    pub at: Option<DateTime<Utc>>,
    /// An injected fault: these targets are expected to fail (until `until`, if given).
    pub expected_down: Option<ExpectedDown>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDown {
    pub targets: Vec<String>,
    pub until: Option<DateTime<Utc>>,
}

/// A drill or note request that cannot be read (the API's JSON or a page form). The API answers
/// `400 invalid_drill` with this English text; the pages say it in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("scope: {0}")]
    Scope(String),
    #[error("{field}: `{value}` is not a duration such as 10s or 2h ({reason})")]
    Duration {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("baseline: must be at most 90 days")]
    BaselineTooLong,
    #[error("leaders: names must not be empty")]
    EmptyLeader,
    /// A time typed in a page form (the API takes RFC 3339 in JSON).
    #[error("{field}: `{value}` is not a time such as 14:05 or 2026-11-20T14:05")]
    Time { field: &'static str, value: String },
    #[error("until: name the targets expected to fail")]
    UntilWithoutTargets,
}

fn duration_field(
    field: &'static str,
    v: Option<&str>,
    default: Duration,
) -> Result<Duration, RequestError> {
    match v {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s).map_err(|e| RequestError::Duration {
            field,
            value: s.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Turns a start request into a drill to start (shared with the page form).
pub fn new_drill(body: StartRequest, defaults: &DrillDefaults) -> Result<NewDrill, RequestError> {
    let scope = Scope::parse(&body.scope).map_err(RequestError::Scope)?;
    let interval = duration_field("interval", body.interval.as_deref(), DEFAULT_DRILL_INTERVAL)?;
    let duration = duration_field("duration", body.duration.as_deref(), defaults.open_ended)?;
    let baseline = duration_field("baseline", body.baseline.as_deref(), DEFAULT_BASELINE)?;
    if baseline > Duration::from_secs(90 * 86_400) {
        return Err(RequestError::BaselineTooLong);
    }
    if body.leaders.iter().any(|l| l.trim().is_empty()) {
        return Err(RequestError::EmptyLeader);
    }
    Ok(NewDrill {
        name: body.name,
        scenario: body.scenario,
        scope,
        leaders: body.leaders,
        interval,
        duration,
        baseline,
        planned_start: None,
        schedule_key: None,
    })
}

/// Turns a note request into a note to add (shared with the page form).
pub fn new_note(body: NoteRequest, author: &str) -> NewNote {
    let (expected_targets, expected_until) = match body.expected_down {
        Some(e) => (e.targets, e.until),
        None => (Vec::new(), None),
    };
    NewNote {
        at: body.at.unwrap_or_else(crate::time::now_ms),
        author: author.to_string(),
        text: body.text,
        expected_targets,
        expected_until,
    }
}

fn not_found(what: &str) -> warp::Rejection {
    reject(ApiError::not_found(format!("no drill `{what}`")))
}

/// A drill's after-action report as of now; `404` when there is no such drill.
pub async fn report(state: &AppState, id: i64) -> Result<Report, warp::Rejection> {
    report::load(state, id, crate::time::now_ms())
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(&id.to_string()))
}

/// The report as JSON (also `GET /api/v1/drills/{id}/report`).
pub fn report_json(r: &Report, gzip: bool) -> Result<warp::reply::Response, warp::Rejection> {
    let body = serde_json::to_vec(r).map_err(|e| reject(ApiError::internal(e.to_string())))?;
    Ok(compress::respond(body, "application/json", gzip))
}

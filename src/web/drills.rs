//! Drill endpoints: start, stop, list and read drills, and the timeline notes officers add.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Reply};

use super::auth::{self, Caller};
use super::error::{ApiError, internal, reject};
use super::with_state;
use crate::config::Role;
use crate::config::drills::{DEFAULT_BASELINE, DEFAULT_DRILL_INTERVAL, OneOrMany, Scope};
use crate::drill::service::{self, DrillError};
use crate::drill::{NewDrill, NewNote, db};
use crate::shared::AppState;

/// What `POST /api/v1/drills` accepts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    pub name: String,
    #[serde(default)]
    pub scenario: String,
    /// Label -> value or values; `{}` covers every target.
    pub scope: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    pub leaders: Vec<String>,
    /// Probing interval in scope, e.g. "10s".
    pub interval: Option<String>,
    /// Planned length, e.g. "2h"; the drill ends by itself then.
    pub duration: String,
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

fn bad(code: &'static str, message: impl Into<String>) -> warp::Rejection {
    reject(ApiError::bad_request(code, message))
}

fn conflict(code: &'static str, message: String) -> warp::Rejection {
    reject(ApiError {
        status: StatusCode::CONFLICT,
        code,
        message,
    })
}

/// Maps drill errors to stable API errors.
pub fn drill_rejection(e: DrillError) -> warp::Rejection {
    match e {
        DrillError::Invalid(_) => bad("invalid_drill", e.to_string()),
        DrillError::EmptyScope => bad("empty_scope", e.to_string()),
        DrillError::Overlap(_) => conflict("drill_overlap", e.to_string()),
        DrillError::Ended(_) => conflict("drill_ended", e.to_string()),
        DrillError::NotFound(id) => reject(ApiError::not_found(format!("no drill {id}"))),
        DrillError::Store(s) => internal(s),
    }
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
pub fn new_drill(body: StartRequest) -> Result<NewDrill, RequestError> {
    let scope = Scope::parse(&body.scope).map_err(RequestError::Scope)?;
    let interval = duration_field("interval", body.interval.as_deref(), DEFAULT_DRILL_INTERVAL)?;
    let duration = duration_field("duration", Some(&body.duration), Duration::ZERO)?;
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

async fn start(
    caller: Caller,
    body: StartRequest,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let new = new_drill(body).map_err(|e| bad("invalid_drill", e.to_string()))?;
    let d = service::start(&state, new, &caller.name, Utc::now())
        .await
        .map_err(drill_rejection)?;
    Ok(warp::reply::with_status(warp::reply::json(&d), StatusCode::CREATED).into_response())
}

async fn stop(
    id: i64,
    caller: Caller,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let d = service::stop(&state, id, Some(&caller.name), "stopped", Utc::now())
        .await
        .map_err(drill_rejection)?;
    Ok(warp::reply::json(&d).into_response())
}

type Query = std::collections::HashMap<String, String>;

async fn list(q: Query, state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let running = match q.get("running").map(String::as_str) {
        None | Some("all") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(bad(
                "invalid_query",
                format!("`running` must be true, false or all, not `{other}`"),
            ));
        }
    };
    let limit = match q.get("limit").map(|v| v.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1_000).contains(&n) => n,
        _ => return Err(bad("invalid_query", "`limit` must be from 1 to 1000")),
    };
    let drills = state
        .store
        .query(move |c| db::list(c, running, limit))
        .await
        .map_err(internal)?;
    Ok(warp::reply::json(&serde_json::json!({ "drills": drills })).into_response())
}

async fn get(id: i64, state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let found = state
        .store
        .query(move |c| Ok((db::get(c, id)?, db::notes(c, id)?)))
        .await
        .map_err(internal)?;
    let (Some(drill), notes) = found else {
        return Err(reject(ApiError::not_found(format!("no drill {id}"))));
    };
    let mut v =
        serde_json::to_value(&drill).map_err(|e| reject(ApiError::internal(e.to_string())))?;
    v["notes"] =
        serde_json::to_value(&notes).map_err(|e| reject(ApiError::internal(e.to_string())))?;
    Ok(warp::reply::json(&v).into_response())
}

async fn notes(id: i64, state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let found = state
        .store
        .query(move |c| Ok((db::get(c, id)?.is_some(), db::notes(c, id)?)))
        .await
        .map_err(internal)?;
    if !found.0 {
        return Err(reject(ApiError::not_found(format!("no drill {id}"))));
    }
    Ok(warp::reply::json(&serde_json::json!({ "notes": found.1 })).into_response())
}

/// Turns a note request into a note to add (shared with the page form).
pub fn new_note(body: NoteRequest, author: &str) -> NewNote {
    let (expected_targets, expected_until) = match body.expected_down {
        Some(e) => (e.targets, e.until),
        None => (Vec::new(), None),
    };
    NewNote {
        at: body.at.unwrap_or_else(Utc::now),
        author: author.to_string(),
        text: body.text,
        expected_targets,
        expected_until,
    }
}

async fn add_note(
    id: i64,
    caller: Caller,
    body: NoteRequest,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let note = service::add_note(&state, id, new_note(body, &caller.name))
        .await
        .map_err(drill_rejection)?;
    Ok(warp::reply::with_status(warp::reply::json(&note), StatusCode::CREATED).into_response())
}

/// The drill routes, merged into the main router.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let body_limit = || warp::body::content_length_limit(32 * 1024);
    let start = warp::path!("api" / "v1" / "drills")
        .and(warp::post())
        .and(auth::require(state.clone(), Role::Admin))
        .and(body_limit().and(warp::body::json::<StartRequest>()))
        .and(with_state(state.clone()))
        .and_then(start);
    let list = warp::path!("api" / "v1" / "drills")
        .and(warp::get())
        .and(auth::read_access(state.clone()))
        .and(warp::query::<Query>())
        .and(with_state(state.clone()))
        .and_then(list);
    let get = warp::path!("api" / "v1" / "drills" / i64)
        .and(warp::get())
        .and(auth::read_access(state.clone()))
        .and(with_state(state.clone()))
        .and_then(get);
    let stop = warp::path!("api" / "v1" / "drills" / i64 / "stop")
        .and(warp::post())
        .and(auth::require(state.clone(), Role::Admin))
        .and(with_state(state.clone()))
        .and_then(stop);
    let notes = warp::path!("api" / "v1" / "drills" / i64 / "notes")
        .and(warp::get())
        .and(auth::read_access(state.clone()))
        .and(with_state(state.clone()))
        .and_then(notes);
    let report = warp::path!("api" / "v1" / "drills" / i64 / "report")
        .and(warp::get())
        .and(auth::read_access(state.clone()))
        .and(with_state(state.clone()))
        .and_then(super::page::drills::api_report);
    let add_note = warp::path!("api" / "v1" / "drills" / i64 / "notes")
        .and(warp::post())
        .and(auth::require(state.clone(), Role::Officer))
        .and(body_limit().and(warp::body::json::<NoteRequest>()))
        .and(with_state(state))
        .and_then(add_note);
    start
        .or(list)
        .unify()
        .or(get)
        .unify()
        .or(stop)
        .unify()
        .or(notes)
        .unify()
        .or(add_note)
        .unify()
        .or(report)
        .unify()
}

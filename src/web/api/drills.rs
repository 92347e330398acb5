//! Drill endpoints: start, stop, list and read drills, and the timeline notes officers add.

use warp::http::StatusCode;
use warp::{Filter, Reply};

use crate::config::Role;
use crate::drill::db;
use crate::drill::service::{self, DrillError};
use crate::shared::AppState;
use crate::web::auth::{self, Caller};
use crate::web::error::{ApiError, internal, reject};
use crate::web::view;
use crate::web::view::drills::{NoteRequest, StartRequest, new_drill, new_note};
use crate::web::with_state;

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

async fn start(
    caller: Caller,
    body: StartRequest,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let new = new_drill(body, &state.config().drill_defaults)
        .map_err(|e| bad("invalid_drill", e.to_string()))?;
    let d = service::start(&state, new, &caller.name, crate::time::now_ms())
        .await
        .map_err(drill_rejection)?;
    Ok(warp::reply::with_status(warp::reply::json(&d), StatusCode::CREATED).into_response())
}

async fn stop(
    id: i64,
    caller: Caller,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let d = service::stop(
        &state,
        id,
        Some(&caller.name),
        "stopped",
        crate::time::now_ms(),
    )
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

/// `GET /api/v1/drills/{id}/report`.
pub async fn api_report(
    id: i64,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let r = view::drills::report(&state, id).await?;
    view::drills::report_json(&r, false)
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
    let start = warp::path!("api" / "v1" / "drills")
        .and(warp::post())
        .and(auth::require(state.clone(), Role::Admin))
        .and(crate::web::body::json::<StartRequest>(
            32 * 1024,
            state.config().server.limits.body_read_timeout,
        ))
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
        .and_then(api_report);
    let add_note = warp::path!("api" / "v1" / "drills" / i64 / "notes")
        .and(warp::post())
        .and(auth::require(state.clone(), Role::Officer))
        .and(crate::web::body::json::<NoteRequest>(
            32 * 1024,
            state.config().server.limits.body_read_timeout,
        ))
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

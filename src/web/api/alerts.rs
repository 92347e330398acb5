//! Alerting endpoints: silences (create, list, end) and the outbox with its dead letters.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use warp::{Filter, Reply};

use crate::alerting::{outbox, silence};
use crate::config::Role;
use crate::config::alerting::Matchers;
use crate::shared::AppState;
use crate::web::auth::{self, Caller};
use crate::web::error::{ApiError, internal, reject};
use crate::web::with_state;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSilence {
    matchers: BTreeMap<String, String>,
    /// Defaults to now.
    starts_at: Option<DateTime<Utc>>,
    /// Either `ends_at` or `duration` (e.g. "2h").
    ends_at: Option<DateTime<Utc>>,
    duration: Option<String>,
    reason: String,
}

/// Silences may not outlast a month: a forgotten one would hide the next storm.
const MAX_SILENCE_DAYS: i64 = 31;

async fn create_silence(
    caller: Caller,
    body: NewSilence,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let bad = |m: String| reject(ApiError::bad_request("invalid_silence", m));
    if body.matchers.is_empty() {
        return Err(bad(
            "a silence needs at least one matcher (e.g. {\"operator\": \"viettel\"})".into(),
        ));
    }
    Matchers::parse(&body.matchers).map_err(bad)?;
    if body.reason.trim().is_empty() {
        return Err(bad("a silence needs a reason".into()));
    }
    let starts_at = body.starts_at.unwrap_or_else(crate::time::now_ms);
    let ends_at = match (body.ends_at, body.duration.as_deref()) {
        (Some(e), None) => e,
        (None, Some(d)) => {
            let d = humantime::parse_duration(d).map_err(|e| bad(format!("`duration`: {e}")))?;
            starts_at
                + chrono::Duration::from_std(d).map_err(|_| bad("`duration` is too long".into()))?
        }
        _ => return Err(bad("give exactly one of `ends_at` and `duration`".into())),
    };
    if ends_at <= starts_at {
        return Err(bad("the silence must end after it starts".into()));
    }
    if ends_at - starts_at > chrono::Duration::days(MAX_SILENCE_DAYS) {
        return Err(bad(format!(
            "silences are limited to {MAX_SILENCE_DAYS} days"
        )));
    }
    let new = silence::NewSilence {
        matchers: body.matchers,
        starts_at,
        ends_at,
        author: caller.name.clone(),
        reason: body.reason,
    };
    let id = state
        .store
        .write_now(move |tx| silence::insert(tx, &new))
        .await
        .map_err(internal)?;
    tracing::info!(silence = id, by = %caller.name, "silence created");
    let r = warp::reply::json(
        &serde_json::json!({ "id": id, "starts_at": starts_at, "ends_at": ends_at }),
    );
    Ok(warp::reply::with_status(r, warp::http::StatusCode::CREATED).into_response())
}

async fn list_silences(state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let now = crate::time::now_ms();
    let list = state
        .store
        .query(move |c| silence::current(c, now))
        .await
        .map_err(internal)?;
    Ok(warp::reply::json(&serde_json::json!({ "silences": list })).into_response())
}

async fn expire_silence(
    id: i64,
    caller: Caller,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let by = caller.name.clone();
    let ended = state
        .store
        .write_or_queue(move |tx| silence::expire(tx, id, &by))
        .await
        .map_err(internal)?;
    if !ended {
        return Err(reject(ApiError::not_found(format!(
            "no active silence {id}"
        ))));
    }
    Ok(
        warp::reply::json(&serde_json::json!({ "id": id, "expired_by": caller.name }))
            .into_response(),
    )
}

type Query = std::collections::HashMap<String, String>;

async fn list_outbox(q: Query, state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let status = match q.get("status").map(String::as_str) {
        None | Some("all") => None,
        Some(s @ ("pending" | "delivered" | "dead")) => Some(s.to_string()),
        Some(other) => {
            return Err(reject(ApiError::bad_request(
                "invalid_query",
                format!("`status` must be pending, delivered, dead or all, not `{other}`"),
            )));
        }
    };
    let limit = match q.get("limit").map(|v| v.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1_000).contains(&n) => n,
        _ => {
            return Err(reject(ApiError::bad_request(
                "invalid_query",
                "`limit` must be from 1 to 1000",
            )));
        }
    };
    let receiver = q.get("receiver").cloned();
    let rows = state
        .store
        .query(move |c| outbox::list(c, status.as_deref(), receiver.as_deref(), limit))
        .await
        .map_err(internal)?;
    Ok(warp::reply::json(&serde_json::json!({ "messages": rows })).into_response())
}

async fn retry_dead(
    id: i64,
    caller: Caller,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let requeued = outbox::retry_dead(&state.store, id)
        .await
        .map_err(internal)?;
    if !requeued {
        return Err(reject(ApiError::not_found(format!("no dead letter {id}"))));
    }
    tracing::info!(message = id, by = %caller.name, "dead letter queued again");
    Ok(warp::reply::json(&serde_json::json!({ "id": id, "status": "pending" })).into_response())
}

/// The alerting routes, merged into the main router.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let json_body = crate::web::body::json::<NewSilence>(
        16 * 1024,
        state.config().server.limits.body_read_timeout,
    );
    let create = warp::path!("api" / "v1" / "silences")
        .and(warp::post())
        .and(auth::require(state.clone(), Role::Admin))
        .and(json_body)
        .and(with_state(state.clone()))
        .and_then(create_silence);
    let list = warp::path!("api" / "v1" / "silences")
        .and(warp::get())
        .and(auth::read_access(state.clone()))
        .and(with_state(state.clone()))
        .and_then(list_silences);
    let expire = warp::path!("api" / "v1" / "silences" / i64)
        .and(warp::delete())
        .and(auth::require(state.clone(), Role::Admin))
        .and(with_state(state.clone()))
        .and_then(expire_silence);
    let outbox = warp::path!("api" / "v1" / "alerts" / "outbox")
        .and(warp::get())
        .and(auth::read_access(state.clone()))
        .and(warp::query::<Query>())
        .and(with_state(state.clone()))
        .and_then(list_outbox);
    let retry = warp::path!("api" / "v1" / "alerts" / "outbox" / i64 / "retry")
        .and(warp::post())
        .and(auth::require(state.clone(), Role::Admin))
        .and(with_state(state))
        .and_then(retry_dead);
    create
        .or(list)
        .unify()
        .or(expire)
        .unify()
        .or(outbox)
        .unify()
        .or(retry)
        .unify()
}

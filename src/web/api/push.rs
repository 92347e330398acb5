//! `POST /api/v1/push/{target}` (or `GET`, for devices that can only fetch a URL): heartbeats
//! from sites that cannot be probed (a commune office behind NAT, a generator controller). Each
//! heartbeat target has its own token, sent as `Authorization: Bearer TOKEN` or `?token=TOKEN`.
//! `status` (ok or fail, default ok) and `message` come from the query or a small JSON body;
//! the body may add `on_battery` and `battery_minutes`, which drive the target's runway.

use std::collections::HashMap;

use futures_util::Stream;
use serde::Deserialize;
use warp::Buf;
use warp::Reply;
use warp::http::StatusCode;

use crate::probe::{ProbeSpec, Push, PushBattery, PushStatus};
use crate::shared::AppState;
use crate::web::error::ApiError;

/// Pushes are tiny; anything larger is not a heartbeat.
const MAX_BODY: usize = 4 * 1024;
/// Messages are shown on the page; keep them short.
const MAX_MESSAGE: usize = 500;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PushBody {
    status: Option<String>,
    message: Option<String>,
    /// A site reporting its own power: `{"on_battery": true, "battery_minutes": 42}`.
    on_battery: Option<bool>,
    battery_minutes: Option<u32>,
}

/// More minutes than any battery holds is a unit mistake (seconds sent as minutes).
const MAX_BATTERY_MINUTES: u32 = 7 * 24 * 60;

fn reject(status: StatusCode, code: &'static str, message: impl Into<String>) -> warp::Rejection {
    warp::reject::custom(ApiError {
        status,
        code,
        message: message.into(),
    })
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn push(
    id: String,
    authorization: Option<String>,
    content_type: Option<String>,
    query: HashMap<String, String>,
    body: impl Stream<Item = Result<impl Buf, warp::Error>> + Unpin,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    // At most MAX_BODY bytes whether or not the client sent a Content-Length, within the
    // server's body timeout.
    let timeout = state.config().server.limits.body_read_timeout;
    let body = crate::web::body::read(body, MAX_BODY as u64, timeout)
        .await
        .map_err(warp::reject::custom)?;
    // Read per request: a reload may add the target or change its token.
    let config = state.config();
    let spec = match config.target(&id).map(|t| &t.spec) {
        Some(ProbeSpec::Heartbeat(s)) => s,
        _ => {
            return Err(reject(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no heartbeat target with id `{id}`"),
            ));
        }
    };
    let presented = authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .or(query.get("token").map(String::as_str));
    match presented {
        None => {
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the target's token as `Authorization: Bearer TOKEN` or `?token=TOKEN`",
            ));
        }
        Some(t) if !same_token(t, &spec.token) => {
            return Err(reject(
                StatusCode::FORBIDDEN,
                "forbidden",
                "wrong token for this target",
            ));
        }
        Some(_) => {}
    }
    // An empty body is a plain heartbeat whatever the device calls it; a body must be JSON.
    let parsed: PushBody = if body.iter().all(u8::is_ascii_whitespace) {
        PushBody::default()
    } else {
        crate::web::body::media_type(content_type.as_deref()).map_err(warp::reject::custom)?;
        crate::web::body::decode(&body).map_err(|mut e| {
            e.message = format!(
                "{}; expected {{\"status\": \"ok\"|\"fail\", \"message\": \"...\", \"on_battery\": true|false, \"battery_minutes\": 42}}",
                e.message
            );
            warp::reject::custom(e)
        })?
    };
    let status_text = parsed
        .status
        .or_else(|| query.get("status").cloned())
        .unwrap_or_else(|| "ok".into());
    let Some(status) = PushStatus::parse(&status_text) else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "invalid_status",
            format!("status `{status_text}` is not ok or fail"),
        ));
    };
    let message = parsed
        .message
        .or_else(|| query.get("message").cloned())
        .map(|m| m.chars().take(MAX_MESSAGE).collect::<String>())
        .filter(|m| !m.trim().is_empty());
    // A GET carries the battery in the query, as the controllers that can only fetch a URL
    // send it (`?on_battery=true&battery_minutes=42`).
    let on_battery = match parsed.on_battery {
        Some(b) => Some(b),
        None => query
            .get("on_battery")
            .map(|v| match v.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                other => Err(reject(
                    StatusCode::BAD_REQUEST,
                    "invalid_battery",
                    format!("`on_battery` `{other}` is not true or false"),
                )),
            })
            .transpose()?,
    };
    let battery_minutes = match parsed.battery_minutes {
        Some(m) => Some(m),
        None => query
            .get("battery_minutes")
            .map(|v| {
                v.parse::<u32>().map_err(|_| {
                    reject(
                        StatusCode::BAD_REQUEST,
                        "invalid_battery",
                        format!("`battery_minutes` `{v}` is not a whole number of minutes"),
                    )
                })
            })
            .transpose()?,
    };
    let battery = match (on_battery, battery_minutes) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "invalid_battery",
                "`battery_minutes` needs `on_battery` (true or false) beside it",
            ));
        }
        (Some(_), Some(m)) if m > MAX_BATTERY_MINUTES => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "invalid_battery",
                format!("`battery_minutes` {m} is more than {MAX_BATTERY_MINUTES} (a week)"),
            ));
        }
        (Some(on_battery), minutes) => Some(PushBattery {
            on_battery,
            minutes,
        }),
    };
    let at = crate::time::now_ms();
    let push = Push {
        at,
        status,
        message,
        battery,
    };
    let pushes = state.heartbeats.record(&id, push.clone());
    state.store.record_push(id.clone(), push, pushes);
    tracing::debug!(target = %id, status = status.as_str(), "heartbeat received");
    // A heartbeat sent as a GET must never be answered from a cache on the way: the push
    // would look delivered and never reach us.
    Ok(warp::reply::with_header(
        warp::reply::json(&serde_json::json!({
            "target": id,
            "status": status.as_str(),
            "at": at,
        })),
        "cache-control",
        "no-store",
    )
    .into_response())
}

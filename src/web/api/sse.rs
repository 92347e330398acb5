//! `/api/v1/events`: the event bus as Server-Sent Events, for live pages and scripts. Each
//! stream ends when the app shuts down (otherwise the server's graceful shutdown would wait for
//! every connected browser), and the number of open streams is bounded.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use warp::http::StatusCode;
use warp::sse::Event as SseEvent;

use crate::events::{Event, WebEvent};
use crate::shared::AppState;
use crate::web::error::ApiError;
use crate::web::view::query::Query;

/// Every event type a client may ask for with `?types=`.
pub const TYPES: [&str; 7] = [
    "state_changed",
    "incident",
    "flapping",
    "monitor_isolation",
    "sample",
    "ack",
    "drill",
];

/// Sent when no event has gone out for this long, so proxies keep the connection open and a
/// dead link is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting after the stream ends.
const RETRY: Duration = Duration::from_secs(3);
/// Open streams at most; each holds two bus subscriptions.
pub const MAX_STREAMS: usize = 1_000;

/// Which event types a stream carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Types(Vec<&'static str>);

impl Types {
    /// `types=a,b` from the query; by default everything but `sample`, which fires on every
    /// probe and is only wanted by tools.
    pub fn parse(q: &Query) -> Result<Types, ApiError> {
        let Some(list) = q.get("types").filter(|v| !v.trim().is_empty()) else {
            return Ok(Types(
                TYPES.into_iter().filter(|t| *t != "sample").collect(),
            ));
        };
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(t) = TYPES.into_iter().find(|t| *t == name) else {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("unknown event type `{name}`; known: {}", TYPES.join(", ")),
                ));
            };
            out.push(t);
        }
        Ok(Types(out))
    }

    fn wants(&self, t: &str) -> bool {
        self.0.contains(&t)
    }
}

/// Counts open streams; released when the stream is dropped (client gone or shutdown).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Sub {
    engine: broadcast::Receiver<Event>,
    web: broadcast::Receiver<WebEvent>,
    shutdown: tokio_util::sync::CancellationToken,
    types: Types,
    hello: Option<SseEvent>,
    _slot: Slot,
}

/// Encodes one bus event, or `None` when the client did not ask for its type.
fn encode<T: Serialize>(types: &Types, ev: &T) -> Option<SseEvent> {
    let v = serde_json::to_value(ev).ok()?;
    let ty = v.get("type")?.as_str()?.to_string();
    types
        .wants(&ty)
        .then(|| SseEvent::default().event(ty).data(v.to_string()))
}

/// Tells the client it missed events (it was too slow): it should re-read the state.
fn resync(missed: u64) -> SseEvent {
    SseEvent::default()
        .event("resync")
        .data(serde_json::json!({ "type": "resync", "missed": missed }).to_string())
}

async fn next(mut s: Sub) -> Option<(Result<SseEvent, Infallible>, Sub)> {
    if let Some(h) = s.hello.take() {
        return Some((Ok(h), s));
    }
    loop {
        let out = tokio::select! {
            _ = s.shutdown.cancelled() => return None,
            r = s.engine.recv() => match r {
                Ok(ev) => encode(&s.types, &ev),
                Err(RecvError::Lagged(n)) => Some(resync(n)),
                Err(RecvError::Closed) => return None,
            },
            r = s.web.recv() => match r {
                Ok(ev) => encode(&s.types, &ev),
                Err(RecvError::Lagged(n)) => Some(resync(n)),
                Err(RecvError::Closed) => return None,
            },
            _ = tokio::time::sleep(KEEPALIVE) => Some(SseEvent::default().comment("")),
        };
        if let Some(e) = out {
            return Some((Ok(e), s));
        }
    }
}

/// warp needs the stream to be `Sync`; the bus futures inside are not. The stream is only ever
/// polled through `&mut`, so a mutex that is never locked (only `get_mut`) makes it `Sync`.
struct SyncStream<S>(std::sync::Mutex<Pin<Box<S>>>);

impl<S: Stream> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        // `get_mut` takes no lock; poisoning is impossible because nobody ever locks it.
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        inner.as_mut().poll_next(cx)
    }
}

/// The `/api/v1/events` handler.
pub async fn events(
    q: Query,
    open: Arc<AtomicUsize>,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    use warp::Reply;
    let types = Types::parse(&q).map_err(warp::reject::custom)?;
    if open.fetch_add(1, Ordering::Relaxed) >= MAX_STREAMS {
        open.fetch_sub(1, Ordering::Relaxed);
        return Err(warp::reject::custom(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "too_many_streams",
            message: format!("at most {MAX_STREAMS} event streams may be open at once"),
        }));
    }
    let hello = SseEvent::default().event("hello").retry(RETRY).data(
        serde_json::json!({
            "type": "hello",
            "at": crate::time::now_ms(),
            "targets": state.board.len(),
            "types": types.0,
        })
        .to_string(),
    );
    let sub = Sub {
        engine: state.events.subscribe(),
        web: state.web_events.subscribe(),
        shutdown: state.shutdown.clone(),
        types,
        hello: Some(hello),
        _slot: Slot(open),
    };
    let stream = futures_util::stream::unfold(sub, next);
    let mut r =
        warp::sse::reply(SyncStream(std::sync::Mutex::new(Box::pin(stream)))).into_response();
    // Reverse proxies (nginx) must not buffer the stream.
    r.headers_mut().insert(
        "x-accel-buffering",
        warp::http::HeaderValue::from_static("no"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_default_to_all_but_samples() {
        let t = Types::parse(&Query::new()).unwrap();
        assert!(t.wants("state_changed") && t.wants("ack") && !t.wants("sample"));
        let q: Query = [("types".to_string(), "sample, ack".to_string())].into();
        let t = Types::parse(&q).unwrap();
        assert!(t.wants("sample") && t.wants("ack") && !t.wants("incident"));
        let q: Query = [("types".to_string(), "nope".to_string())].into();
        assert_eq!(Types::parse(&q).unwrap_err().code, "invalid_query");
    }

    #[test]
    fn encodes_engine_events_by_type() {
        let all = Types(TYPES.to_vec());
        let ev = Event::MonitorIsolation {
            isolated: true,
            at: crate::time::now_ms(),
        };
        let e = encode(&all, &ev).unwrap().to_string();
        assert!(e.contains("event:monitor_isolation"), "{e}");
        assert!(e.contains("\"isolated\":true"), "{e}");
        assert!(encode(&Types(vec!["ack"]), &ev).is_none());
    }
}

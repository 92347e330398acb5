//! The HTTP surface (warp): status page, JSON API, `/metrics`, `/healthz`, `/readyz`. Routes
//! only read shared state; nothing here probes an address supplied by a request.

mod alerts;
mod api;
pub mod auth;
pub mod error;
pub mod page;
mod push;

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;

use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::{Filter, Reply};

use crate::app::AppState;
use error::json_error;

const CSS: &str = include_str!("assets/commwatch.css");

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Headers on every response: no script from anywhere but us, no framing, no sniffing.
fn security_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h
}

/// All routes, with JSON error recovery and security headers.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone {
    let index = warp::path::end()
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|s: AppState| {
            let body = page::overview(&s).into_string();
            let mut r = warp::reply::html(body).into_response();
            r.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-cache"));
            r
        });

    let css = warp::path!("assets" / "commwatch.css")
        .and(warp::get())
        .map(|| {
            let mut r = warp::reply::with_header(CSS, "content-type", "text/css; charset=utf-8")
                .into_response();
            r.headers_mut().insert(
                "cache-control",
                HeaderValue::from_static("public, max-age=3600"),
            );
            r
        });

    let targets = warp::path!("api" / "v1" / "targets")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(api::targets);
    let target = warp::path!("api" / "v1" / "targets" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(api::target);

    let q = || warp::query::<api::Query>();
    let incidents = warp::path!("api" / "v1" / "incidents")
        .and(warp::get())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::incidents);
    let availability = warp::path!("api" / "v1" / "targets" / String / "availability")
        .and(warp::get())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::target_availability);
    let series = warp::path!("api" / "v1" / "targets" / String / "series")
        .and(warp::get())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::target_series);
    let groups = warp::path!("api" / "v1" / "groups" / String / "availability")
        .and(warp::get())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::group_availability);
    let status = warp::path!("api" / "v1" / "status")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(api::status);

    let reload = warp::path!("-" / "reload")
        .and(warp::post())
        .and(auth::require(state.clone(), crate::config::Role::Admin))
        .and(with_state(state.clone()))
        .and_then(api::reload);

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and_then(|s: AppState| async move {
            // Rendering takes over a second of CPU at 20,000 targets. On a runtime worker it
            // stalled every probe timer for that long (nothing else woke to drive them), so
            // it runs on the blocking pool.
            let rendered = tokio::task::spawn_blocking(move || {
                s.refresh_gauges();
                s.metrics.render()
            })
            .await;
            Ok::<_, warp::Rejection>(match rendered {
                Ok(Ok(text)) => warp::reply::with_header(
                    text,
                    "content-type",
                    "text/plain; version=0.0.4; charset=utf-8",
                )
                .into_response(),
                Ok(Err(e)) => json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "metrics_failed",
                    &e.to_string(),
                ),
                Err(e) => json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "metrics_failed",
                    &e.to_string(),
                ),
            })
        });

    let push = warp::path!("api" / "v1" / "push" / String)
        .and(warp::post())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(warp::body::stream())
        .and(with_state(state.clone()))
        .and_then(push::push);

    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());

    let alert_routes = alerts::routes(state.clone());
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(state))
        .map(|s: AppState| {
            let scheduling = s.ready.load(Ordering::Relaxed);
            let storage_ok = !s.store.health.degraded.load(Ordering::Relaxed);
            let body = serde_json::json!({
                "ready": scheduling && storage_ok,
                "scheduler": if scheduling { "running" } else { "starting" },
                "storage": if storage_ok { "ok" } else { "degraded" },
                "targets": s.board.len(),
            });
            let status = if scheduling && storage_ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(warp::reply::json(&body), status).into_response()
        });

    index
        .or(css)
        .unify()
        .or(targets)
        .unify()
        .or(target)
        .unify()
        .or(incidents)
        .unify()
        .or(availability)
        .unify()
        .or(series)
        .unify()
        .or(groups)
        .unify()
        .or(status)
        .unify()
        .or(reload)
        .unify()
        .or(alert_routes)
        .unify()
        .or(metrics)
        .unify()
        .or(push)
        .unify()
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .recover(error::recover)
        .unify()
        .map(|mut r: warp::reply::Response| {
            r.headers_mut().extend(security_headers());
            r
        })
}

/// Serves `routes` on an already-bound listener until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(routes(state))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}

//! The HTTP surface (warp): status pages, JSON API, live events, `/metrics`, `/healthz`,
//! `/readyz`. Routes read shared state; the only writes are acknowledgements and the reload.
//! Nothing here probes an address supplied by a request.
//!
//! Pages (`page/`) and `/api/v1/overview` share one model (`overview.rs`, `model.rs`); words
//! live in `i18n.rs`; charts are SVG drawn in `chart.rs`; `sse.rs` streams the event bus.

pub mod api;
pub mod auth;
pub mod body;
pub mod compress;
pub mod error;
pub mod page;
mod serve;
pub mod view;

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;

use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::{Filter, Reply};

use crate::shared::AppState;
use api::{alerts, blackbox, drills, push, scrape, sse};

const CSS: &str = include_str!("assets/commwatch.css");
const JS: &str = include_str!("assets/commwatch.js");

pub(super) fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
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
    let gzip = || {
        warp::header::optional::<String>("accept-encoding")
            .map(|h: Option<String>| compress::accepts_gzip(h.as_deref()))
    };
    let pages = pages(state.clone());
    let asset = |body: &'static str, content_type: &'static str| {
        warp::get().and(gzip()).map(move |gz: bool| {
            let mut r = compress::respond(body.as_bytes().to_vec(), content_type, gz);
            r.headers_mut().insert(
                "cache-control",
                HeaderValue::from_static("public, max-age=3600"),
            );
            r
        })
    };
    let css = warp::path!("assets" / "commwatch.css").and(asset(CSS, "text/css; charset=utf-8"));
    let js =
        warp::path!("assets" / "commwatch.js").and(asset(JS, "text/javascript; charset=utf-8"));

    let reads = reads(state.clone());
    let alert_routes = alerts::routes(state.clone());
    let drill_routes = drills::routes(state.clone());
    let operations = operations(state);
    pages
        .or(css.boxed())
        .unify()
        .or(js.boxed())
        .unify()
        .or(reads)
        .unify()
        .or(alert_routes.boxed())
        .unify()
        .or(drill_routes.boxed())
        .unify()
        .or(operations)
        .unify()
        .recover(error::recover)
        .unify()
        .map(|mut r: warp::reply::Response| {
            r.headers_mut().extend(security_headers());
            r
        })
}

/// The JSON API's reads: overview, targets and their history, incidents, groups.
fn reads(state: AppState) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let read = || auth::read_access(state.clone());
    let gzip = || {
        warp::header::optional::<String>("accept-encoding")
            .map(|h: Option<String>| compress::accepts_gzip(h.as_deref()))
    };
    let q = || warp::query::<view::query::Query>();
    let overview = warp::path!("api" / "v1" / "overview")
        .and(warp::get())
        .and(read())
        .and(q())
        .and(gzip())
        .and(with_state(state.clone()))
        .and_then(api::overview);
    let targets = warp::path!("api" / "v1" / "targets")
        .and(warp::get())
        .and(read())
        .and(q())
        .and(gzip())
        .and(with_state(state.clone()))
        .and_then(api::targets);
    let target = warp::path!("api" / "v1" / "targets" / String)
        .and(warp::get())
        .and(read())
        .and(with_state(state.clone()))
        .and_then(api::target);

    let incidents = warp::path!("api" / "v1" / "incidents")
        .and(warp::get())
        .and(read())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::incidents);
    let availability = warp::path!("api" / "v1" / "targets" / String / "availability")
        .and(warp::get())
        .and(read())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::target_availability);
    let series = warp::path!("api" / "v1" / "targets" / String / "series")
        .and(warp::get())
        .and(read())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::target_series);
    let groups = warp::path!("api" / "v1" / "groups" / String / "availability")
        .and(warp::get())
        .and(read())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::group_availability);
    // After `groups/{by}/availability`, which it would otherwise shadow.
    let group = warp::path!("api" / "v1" / "groups" / String / String)
        .and(warp::get())
        .and(read())
        .and(q())
        .and(with_state(state.clone()))
        .and_then(api::group);
    overview
        .boxed()
        .or(targets.boxed())
        .unify()
        .or(target.boxed())
        .unify()
        .or(incidents.boxed())
        .unify()
        .or(availability.boxed())
        .unify()
        .or(series.boxed())
        .unify()
        .or(groups.boxed())
        .unify()
        .or(group.boxed())
        .unify()
        .boxed()
}

/// What machines and officers do besides reading: status, live events, acknowledgements,
/// reload, `/metrics`, heartbeat pushes, `/probe`, health.
fn operations(state: AppState) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let read = || auth::read_access(state.clone());
    let q = || warp::query::<view::query::Query>();
    let status = warp::path!("api" / "v1" / "status")
        .and(warp::get())
        .and(read())
        .and(with_state(state.clone()))
        .and_then(api::status);
    let streams = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let events = warp::path!("api" / "v1" / "events")
        .and(warp::get())
        .and(read())
        .and(q())
        .and(warp::any().map(move || streams.clone()))
        .and(with_state(state.clone()))
        .and_then(sse::events);
    let ack = warp::path!("api" / "v1" / "incidents" / String / "ack")
        .and(warp::post())
        .and(auth::require(state.clone(), crate::config::Role::Officer))
        .and(body::json::<api::AckBody>(
            16 * 1024,
            state.config().server.limits.body_read_timeout,
        ))
        .and(with_state(state.clone()))
        .and_then(api::ack);

    let reload = warp::path!("-" / "reload")
        .and(warp::post())
        .and(auth::require(state.clone(), crate::config::Role::Admin))
        .and(with_state(state.clone()))
        .and_then(api::reload);

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(read())
        .and(with_state(state.clone()))
        .and_then(scrape::serve);

    // GET too: many generator controllers and old modems can only fetch a URL.
    let push = warp::path!("api" / "v1" / "push" / String)
        .and(warp::get().or(warp::post()).unify())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(warp::body::stream())
        .and(with_state(state.clone()))
        .and_then(push::push);

    let blackbox_probe = warp::path!("probe")
        .and(warp::get())
        .and(read())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(warp::header::optional::<String>(
            "x-prometheus-scrape-timeout-seconds",
        ))
        .and(with_state(state.clone()))
        .and_then(blackbox::probe);

    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());

    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(state))
        .map(|s: AppState| {
            let scheduling = s.ready.load(Ordering::Relaxed);
            let storage_ok = !s.store.health.degraded.load(Ordering::Relaxed);
            let mut body = serde_json::json!({
                "ready": scheduling && storage_ok,
                "scheduler": if scheduling { "running" } else { "starting" },
                "storage": if storage_ok { "ok" } else { "degraded" },
                "storage_backend": s.store.engine().as_str(),
                "storage_backlog": s.store.health.backlog.load(Ordering::Relaxed),
                "targets": s.board.len(),
            });
            if !storage_ok {
                // Why the store cannot be written: the engine's own message (no password is
                // ever part of it), so the officer on duty knows whom to call.
                let why = s
                    .store
                    .health
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                body["storage_error"] = serde_json::json!(why);
            }
            let status = if scheduling && storage_ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(warp::reply::json(&body), status).into_response()
        });

    status
        .boxed()
        .or(events.boxed())
        .unify()
        .or(ack.boxed())
        .unify()
        .or(reload.boxed())
        .unify()
        .or(metrics.boxed())
        .unify()
        .or(push.boxed())
        .unify()
        .or(blackbox_probe.boxed())
        .unify()
        .or(healthz.boxed())
        .unify()
        .or(readyz.boxed())
        .unify()
        .boxed()
}

/// The HTML pages: overview (and its live fragment), target detail, incidents, groups.
fn pages(state: AppState) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let state_for_drills = state.clone();
    let read = || auth::page_access(state.clone());
    let get = || warp::get().and(read());
    let overview = warp::path::end()
        .and(get())
        .and(page::ctx(state.clone()))
        .and(with_state(state.clone()))
        .and_then(page::overview::page);
    let top = warp::path!("fragments" / "top")
        .and(get())
        .and(page::ctx(state.clone()))
        .and(with_state(state.clone()))
        .and_then(page::overview::fragment);
    let target = warp::path!("targets" / String)
        .and(get())
        .and(page::ctx(state.clone()))
        .and(with_state(state.clone()))
        .and_then(page::target::page);
    let incidents = warp::path!("incidents")
        .and(get())
        .and(page::ctx(state.clone()))
        .and(with_state(state.clone()))
        .and_then(page::incidents::page);
    let groups = warp::path!("groups" / String)
        .and(get())
        .and(page::ctx(state.clone()))
        .and(with_state(state.clone()))
        .and_then(page::groups::index);
    let group = warp::path!("groups" / String / String)
        .and(get())
        .and(page::ctx(state.clone()))
        .and(with_state(state.clone()))
        .and_then(page::groups::detail);
    let login_form = warp::path!("login")
        .and(warp::get())
        .and(page::ctx(state.clone()))
        .and(with_state(state.clone()))
        .map(|ctx: page::PageCtx, state: AppState| {
            page::login::form(&ctx, state.config().auth.public, None)
        });
    let logout = warp::path!("logout")
        .and(warp::post())
        .map(page::login::logout);
    let login = warp::path!("login")
        .and(warp::post())
        .and(page::ctx(state.clone()))
        .and(warp::header::optional::<String>("x-forwarded-proto"))
        .and(body::form(
            4 * 1024,
            state.config().server.limits.body_read_timeout,
        ))
        .and(with_state(state))
        .map(page::login::submit);
    overview
        .boxed()
        .or(top.boxed())
        .unify()
        .or(target.boxed())
        .unify()
        .or(incidents.boxed())
        .unify()
        .or(groups.boxed())
        .unify()
        .or(group.boxed())
        .unify()
        .or(login_form.boxed())
        .unify()
        .or(login.boxed())
        .unify()
        .or(logout.boxed())
        .unify()
        .or(page::drills::routes(state_for_drills.clone()))
        .unify()
        .or(page::incidents::routes(state_for_drills))
        .unify()
        .boxed()
}

/// Serves `routes` on an already-bound listener until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = state.config().server.limits;
    serve::run(routes(state), listener, limits, shutdown).await;
}

//! `/api/v1` JSON handlers, and the other machine-facing endpoints (events, `/metrics`,
//! `/probe`, push, alerting, drills), each in its own file. They read models from `view`, never
//! from `page`.

pub mod alerts;
pub mod blackbox;
pub mod drills;
pub mod push;
pub mod scrape;
pub mod sse;

use chrono::Utc;
use serde::Serialize;
use warp::Reply;

use crate::config::Labels;
use crate::shared::AppState;
use crate::state::State;
use crate::status::{LastResult, TargetStatus};
use crate::store::StoredSample;
use crate::web::error::{ApiError, internal, reject};
use crate::web::view::query::{Query, bounded, decode_segment, time_range};

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

/// `GET /api/v1/targets`: filters `operator`, `service`, `province`, `commune`, `state` (a state
/// or `problem`), `q` (name, id or commune, with or without diacritics); `limit`/`offset`.
pub async fn targets(
    q: Query,
    gzip: bool,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let rows = state.board.snapshot();
    let want_state = match q.get("state").map(String::as_str) {
        None | Some("") => None,
        Some("problem") => Some(None),
        Some(s) => Some(Some(State::parse(s).ok_or_else(|| {
            reject(ApiError::bad_request(
                "invalid_query",
                format!("`state` must be a state name or `problem`, not `{s}`"),
            ))
        })?)),
    };
    let needle = q.get("q").map(|n| crate::web::view::fold::fold(n));
    let label = |key: &str| q.get(key).filter(|v| !v.is_empty());
    let matching: Vec<&TargetStatus> = rows
        .iter()
        .filter(|r| {
            let l = &r.target.labels;
            label("operator").is_none_or(|v| &l.operator == v)
                && label("service").is_none_or(|v| &l.service == v)
                && label("province").is_none_or(|v| &l.province == v)
                && label("commune").is_none_or(|v| &l.commune == v)
                && want_state.is_none_or(|w| match w {
                    None => r.state.state.is_problem(),
                    Some(s) => r.state.state == s,
                })
                && needle.as_ref().is_none_or(|n| {
                    crate::web::view::fold::fold(&format!(
                        "{} {} {}",
                        r.target.id, r.target.name, l.commune
                    ))
                    .contains(n.as_str())
                })
        })
        .collect();
    let limit = bounded(&q, "limit", MAX_TARGETS, MAX_TARGETS).map_err(reject)?;
    let offset = bounded(&q, "offset", 0, MAX_TARGETS).map_err(reject)?;
    #[derive(Serialize)]
    struct Out<'a> {
        generated_at: chrono::DateTime<Utc>,
        total: usize,
        count: usize,
        offset: usize,
        targets: Vec<TargetView<'a>>,
    }
    let page: Vec<TargetView> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| TargetView::of(r))
        .collect();
    let out = Out {
        generated_at: crate::time::now_ms(),
        total: matching.len(),
        count: page.len(),
        offset,
        targets: page,
    };
    Ok(json(&out, gzip))
}

/// More targets than any inventory holds; the default page is "all of them".
const MAX_TARGETS: usize = 1_000_000;

/// A JSON response, gzipped when the client accepts it and it is large.
pub fn json<T: Serialize>(v: &T, gzip: bool) -> warp::reply::Response {
    match serde_json::to_vec(v) {
        Ok(body) => crate::web::compress::respond(body, "application/json", gzip),
        Err(e) => crate::web::error::json_error(
            warp::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
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
        .map_err(|e| warp::reject::custom(ApiError::store(&e)))?;
    let uptime: std::collections::BTreeMap<&str, crate::store::Availability> =
        crate::web::view::target::uptime(&state, &id, crate::time::now_ms())
            .await
            .map_err(reject)?
            .into_iter()
            .collect();
    #[derive(Serialize)]
    struct Out<'a> {
        target: TargetView<'a>,
        flapping: bool,
        explained_by: Option<&'a str>,
        incident_open: bool,
        uptime: std::collections::BTreeMap<&'a str, crate::store::Availability>,
        recent_samples: Vec<StoredSample>,
    }
    Ok(warp::reply::json(&Out {
        target: TargetView::of(&row),
        flapping: row.state.flapping,
        explained_by: row.state.explained_by.as_deref(),
        incident_open: row.state.incident_open,
        uptime,
        recent_samples: recent,
    })
    .into_response())
}

/// Query parameters as given; parsed by hand so every mistake gets a precise 400.
/// 404 unless `id` is a configured target.
fn known_target(state: &AppState, id: &str) -> Result<(), warp::Rejection> {
    match state.board.get(id) {
        Some(_) => Ok(()),
        None => Err(reject(ApiError::not_found(format!(
            "no target with id `{id}`"
        )))),
    }
}

/// `GET /api/v1/incidents`: see [`crate::web::view::model::incident_filter`] for the parameters.
pub async fn incidents(
    q: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let filter = crate::web::view::model::incident_filter(&state, &q).map_err(reject)?;
    let (limit, offset) = (filter.limit, filter.offset);
    let list = crate::web::view::model::incidents(&state, filter)
        .await
        .map_err(reject)?;
    Ok(warp::reply::json(&serde_json::json!({
        "limit": limit, "offset": offset, "incidents": list,
    }))
    .into_response())
}

/// The body of `POST /api/v1/incidents/{id}/ack`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// What the officer is doing about it; shown to the next shift. Optional, as on the page.
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/v1/incidents/{id}/ack` (officer): records who took the incident.
pub async fn ack(
    id: String,
    caller: crate::web::auth::Caller,
    body: AckBody,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let incident =
        crate::web::view::ack::parse_id(&id).map_err(crate::web::view::ack::AckError::rejection)?;
    // The comment is optional, as on the page form: taking an incident is itself the news.
    let a = crate::web::view::ack::record(&state, incident, &caller.name, &body.comment)
        .await
        .map_err(crate::web::view::ack::AckError::rejection)?;
    Ok(warp::reply::with_status(
        warp::reply::json(&serde_json::json!({ "ack": a })),
        warp::http::StatusCode::CREATED,
    )
    .into_response())
}

pub async fn target_availability(
    id: String,
    q: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    known_target(&state, &id)?;
    let (from, to) = time_range(&q).map_err(reject)?;
    let mut by = state
        .store
        .availability(Some(vec![id.clone()]), from, to)
        .await
        .map_err(internal)?;
    let a = by.remove(&id).unwrap_or_default();
    Ok(warp::reply::json(&serde_json::json!({
        "target": id, "from": from, "to": to, "availability": a,
    }))
    .into_response())
}

pub async fn target_series(
    id: String,
    q: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    use crate::store::Resolution;
    known_target(&state, &id)?;
    let (from, to) = time_range(&q).map_err(reject)?;
    let span = to - from;
    let resolution = match q.get("resolution").map(String::as_str) {
        Some("minute") => Resolution::Minute,
        Some("hour") => Resolution::Hour,
        Some("day") => Resolution::Day,
        Some("week") => Resolution::Week,
        // About a few hundred points whatever the range: what a chart can show.
        None | Some("auto") if span <= chrono::Duration::hours(6) => Resolution::Minute,
        None | Some("auto") if span <= chrono::Duration::days(14) => Resolution::Hour,
        None | Some("auto") => Resolution::Day,
        Some(other) => {
            return Err(reject(ApiError::bad_request(
                "invalid_query",
                format!("`resolution` must be minute, hour, day, week or auto, not `{other}`"),
            )));
        }
    };
    let points = span.num_milliseconds() / resolution.width_ms();
    if points > 20_000 {
        return Err(reject(ApiError::bad_request(
            "range_too_large",
            format!("{points} {resolution:?} buckets requested; use a coarser resolution"),
        )));
    }
    let buckets = state
        .store
        .series(&id, resolution, from, to)
        .await
        .map_err(internal)?;
    Ok(warp::reply::json(&serde_json::json!({
        "target": id, "from": from, "to": to, "resolution": resolution, "buckets": buckets,
    }))
    .into_response())
}

pub async fn group_availability(
    by: String,
    q: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let Some(group_by) = crate::web::view::model::GroupBy::parse(&by) else {
        return Err(reject(ApiError::not_found(format!(
            "cannot group by `{by}`: use operator, service, province or commune"
        ))));
    };
    let (from, to) = time_range(&q).map_err(reject)?;
    let groups = crate::web::view::model::group_index(&state, group_by, from, to)
        .await
        .map_err(reject)?;
    Ok(warp::reply::json(&serde_json::json!({
        "by": by, "from": from, "to": to, "groups": groups,
    }))
    .into_response())
}

/// `GET /api/v1/groups/{by}/{key}`: one group's targets, availability and open incidents.
pub async fn group(
    by: String,
    key: String,
    q: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let key = decode_segment(&key);
    let Some(group_by) = crate::web::view::model::GroupBy::parse(&by) else {
        return Err(reject(ApiError::not_found(format!(
            "cannot group by `{by}`: use operator, service, province or commune"
        ))));
    };
    let (from, to) = time_range(&q).map_err(reject)?;
    let province = q.get("province").filter(|p| !p.is_empty());
    match crate::web::view::model::group(
        &state,
        group_by,
        &key,
        province.map(String::as_str),
        from,
        to,
    )
    .await
    .map_err(reject)?
    {
        Some(g) => Ok(warp::reply::json(&g).into_response()),
        None => Err(reject(ApiError::not_found(format!(
            "no target has {by} `{key}`"
        )))),
    }
}

/// `GET /api/v1/overview`: exactly what the overview page shows, as JSON.
pub async fn overview(
    q: Query,
    gzip: bool,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let (ov, top) = crate::web::view::top::load(&state, &q)
        .await
        .map_err(reject)?;
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        overview: &'a crate::web::view::overview::Overview,
        top: &'a crate::web::view::top::Top,
    }
    Ok(json(
        &Out {
            overview: &ov,
            top: &top,
        },
        gzip,
    ))
}

/// A one-look summary: counts per state, open incidents, isolation and storage health.
pub async fn status(state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    use std::sync::atomic::Ordering;
    let rows = state.board.snapshot();
    let mut counts: std::collections::BTreeMap<&str, usize> =
        State::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for r in &rows {
        *counts.entry(r.state.state.as_str()).or_default() += 1;
    }
    let h = &state.store.health;
    let summary =
        crate::web::view::overview::build(&rows, Default::default(), crate::time::now_ms()).summary;
    Ok(warp::reply::json(&serde_json::json!({
        "generated_at": crate::time::now_ms(),
        "instance": state.config().instance,
        "targets": rows.len(),
        "states": counts,
        "communes": summary.communes,
        "communes_dark": summary.communes_dark,
        "incidents_open": state.metrics.incidents_open.get(),
        "flapping": rows.iter().filter(|r| r.state.flapping).count(),
        "monitor_isolated": state.metrics.monitor_isolated.get() == 1,
        "storage": {
            "degraded": h.degraded.load(Ordering::Relaxed),
            "backlog": h.backlog.load(Ordering::Relaxed),
            "queue_depth": h.queue_depth.load(Ordering::Relaxed),
            "backend": state.store.engine().as_str(),
            "place": state.store.place(),
            "write_failures": h.write_failures.load(Ordering::Relaxed),
        },
    }))
    .into_response())
}

/// `POST /-/reload`: re-read the configuration; an invalid one is refused and the old one kept.
pub async fn reload(
    caller: crate::web::auth::Caller,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    tracing::info!(by = %caller.name, "configuration reload requested over HTTP");
    match state.reloader.reload().await {
        Ok(report) => Ok(warp::reply::json(
            &serde_json::json!({ "status": "reloaded", "report": report }),
        )
        .into_response()),
        Err(crate::reload::ReloadError::Invalid(errors)) => Err(reject(ApiError::bad_request(
            "invalid_config",
            errors.to_string(),
        ))),
        Err(e) => Err(reject(ApiError::internal(e.to_string()))),
    }
}

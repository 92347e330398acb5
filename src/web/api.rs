//! `/api/v1` JSON handlers.

use chrono::{DateTime, Utc};
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

/// Query parameters as given; parsed by hand so every mistake gets a precise 400.
pub type Query = std::collections::HashMap<String, String>;

fn reject(e: ApiError) -> warp::Rejection {
    warp::reject::custom(e)
}

fn internal(e: crate::store::StoreError) -> warp::Rejection {
    reject(ApiError::internal(e.to_string()))
}

/// `from`/`to` (RFC 3339) or `range` (a duration ending now, such as `24h`, `7d`); 24 h by default.
pub fn time_range(q: &Query) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let parse_time = |key: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        q.get(key)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("`{key}` must be an RFC 3339 time: {e}"),
                        )
                    })
            })
            .transpose()
    };
    let now = Utc::now();
    let to = parse_time("to")?.unwrap_or(now);
    let from = match (parse_time("from")?, q.get("range")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "give either `from` or `range`, not both",
            ));
        }
        (Some(f), None) => f,
        (None, Some(r)) => {
            let d = humantime::parse_duration(r).map_err(|e| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("`range` must be a duration such as 24h or 7d: {e}"),
                )
            })?;
            let d = chrono::Duration::from_std(d)
                .map_err(|_| ApiError::bad_request("invalid_query", "`range` is too long"))?;
            to - d
        }
        (None, None) => to - chrono::Duration::hours(24),
    };
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`from` must be before `to`",
        ));
    }
    if to - from > chrono::Duration::days(3_660) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "ranges are limited to ten years",
        ));
    }
    Ok((from, to))
}

fn bounded(q: &Query, key: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_query",
                format!("`{key}` must be a whole number from 0 to {max}"),
            )),
        },
    }
}

pub async fn incidents(
    q: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let open = match q.get("status").map(String::as_str) {
        None | Some("all") => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => {
            return Err(reject(ApiError::bad_request(
                "invalid_query",
                format!("`status` must be open, closed or all, not `{other}`"),
            )));
        }
    };
    let (from, to) = if q.contains_key("from") || q.contains_key("range") || q.contains_key("to") {
        let (f, t) = time_range(&q).map_err(reject)?;
        (Some(f), Some(t))
    } else {
        (None, None)
    };
    let targets = match q.get("target") {
        Some(t) => {
            if state.board.get(t).is_none() {
                return Err(reject(ApiError::not_found(format!(
                    "no target with id `{t}`"
                ))));
            }
            Some(vec![t.clone()])
        }
        None => None,
    };
    let filter = crate::store::IncidentFilter {
        open,
        targets,
        from,
        to,
        limit: bounded(&q, "limit", 100, 1_000).map_err(reject)?.max(1),
        offset: bounded(&q, "offset", 0, 1_000_000).map_err(reject)?,
    };
    let rows = state.store.incidents(filter).await.map_err(internal)?;
    let names: Vec<IncidentView> = rows
        .into_iter()
        .map(|i| {
            let t = state.board.get(&i.target);
            IncidentView {
                name: t.as_ref().map(|t| t.target.name.clone()),
                labels: t.map(|t| t.target.labels.clone()),
                incident: i,
            }
        })
        .collect();
    Ok(warp::reply::json(&serde_json::json!({ "incidents": names })).into_response())
}

#[derive(Serialize)]
struct IncidentView {
    #[serde(flatten)]
    incident: crate::store::IncidentRow,
    name: Option<String>,
    labels: Option<Labels>,
}

pub async fn target_availability(
    id: String,
    q: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    if state.board.get(&id).is_none() {
        return Err(reject(ApiError::not_found(format!(
            "no target with id `{id}`"
        ))));
    }
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
    if state.board.get(&id).is_none() {
        return Err(reject(ApiError::not_found(format!(
            "no target with id `{id}`"
        ))));
    }
    let (from, to) = time_range(&q).map_err(reject)?;
    let span = to - from;
    let resolution = match q.get("resolution").map(String::as_str) {
        Some("minute") => Resolution::Minute,
        Some("hour") => Resolution::Hour,
        Some("day") => Resolution::Day,
        // About a few hundred points whatever the range: what a chart can show.
        None | Some("auto") if span <= chrono::Duration::hours(6) => Resolution::Minute,
        None | Some("auto") if span <= chrono::Duration::days(14) => Resolution::Hour,
        None | Some("auto") => Resolution::Day,
        Some(other) => {
            return Err(reject(ApiError::bad_request(
                "invalid_query",
                format!("`resolution` must be minute, hour, day or auto, not `{other}`"),
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

/// The label a group page is built on.
pub fn group_label(by: &str) -> Option<fn(&Labels) -> &str> {
    match by {
        "operator" => Some(|l| l.operator.as_str()),
        "service" => Some(|l| l.service.as_str()),
        "province" => Some(|l| l.province.as_str()),
        "commune" => Some(|l| l.commune.as_str()),
        _ => None,
    }
}

pub async fn group_availability(
    by: String,
    q: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let Some(label) = group_label(&by) else {
        return Err(reject(ApiError::not_found(format!(
            "cannot group by `{by}`: use operator, service, province or commune"
        ))));
    };
    let (from, to) = time_range(&q).map_err(reject)?;
    let rows = state.board.snapshot();
    let per_target = state
        .store
        .availability(None, from, to)
        .await
        .map_err(internal)?;
    #[derive(Default, Serialize)]
    struct Group {
        key: String,
        targets: usize,
        down_now: usize,
        count: u64,
        ok: u64,
        degraded: u64,
        ratio: Option<f64>,
    }
    let mut groups: std::collections::BTreeMap<String, Group> = std::collections::BTreeMap::new();
    for r in &rows {
        let key = label(&r.target.labels).to_string();
        let g = groups.entry(key.clone()).or_insert_with(|| Group {
            key,
            ..Group::default()
        });
        g.targets += 1;
        if matches!(r.state.state, State::Down | State::Unreachable) {
            g.down_now += 1;
        }
        if let Some(a) = per_target.get(&r.target.id) {
            g.count += a.count;
            g.ok += a.ok;
            g.degraded += a.degraded;
        }
    }
    let mut out: Vec<Group> = groups.into_values().collect();
    for g in &mut out {
        g.ratio = (g.count > 0).then(|| g.ok as f64 / g.count as f64);
    }
    Ok(warp::reply::json(&serde_json::json!({
        "by": by, "from": from, "to": to, "groups": out,
    }))
    .into_response())
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
    Ok(warp::reply::json(&serde_json::json!({
        "generated_at": Utc::now(),
        "targets": rows.len(),
        "states": counts,
        "incidents_open": state.metrics.incidents_open.get(),
        "flapping": rows.iter().filter(|r| r.state.flapping).count(),
        "monitor_isolated": state.metrics.monitor_isolated.get() == 1,
        "storage": {
            "degraded": h.degraded.load(Ordering::Relaxed),
            "backlog": h.backlog.load(Ordering::Relaxed),
            "queue_depth": h.queue_depth.load(Ordering::Relaxed),
        },
    }))
    .into_response())
}

/// `POST /-/reload`: re-read the configuration; an invalid one is refused and the old one kept.
pub async fn reload(
    caller: super::auth::Caller,
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

//! The target detail page: current facts and state, failing checks in resolved form, uptime
//! over 24 h / 7 d / 30 d / 90 d from rollups, a latency and failure chart, incidents with
//! their acknowledgements, and the last samples.

use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use warp::http::StatusCode;

use super::incidents::{ack_control, incident_item};
use super::{Nav, PageCtx, ago, at, layout, or, seg};
use crate::shared::AppState;
use crate::status::TargetStatus;
use crate::store::{Availability, Bucket, IncidentFilter, Resolution, StoredSample, from_ms, ms};
use crate::web::error::ApiError;
use crate::web::page::chart;
use crate::web::page::i18n::{Lang, icon};
use crate::web::view::model::{self, IncidentView, internal};
use crate::web::view::target::uptime;

/// Chart ranges a reader can pick.
const CHART_RANGES: [(&str, i64); 4] = [("6h", 6), ("24h", 24), ("7d", 24 * 7), ("30d", 24 * 30)];
const DAILY_DAYS: usize = 90;

struct Detail {
    uptime: Vec<(&'static str, Availability)>,
    daily_from: DateTime<Utc>,
    daily: Vec<Bucket>,
    chart_range: &'static str,
    chart_from: DateTime<Utc>,
    series: Vec<Bucket>,
    incidents: Vec<IncidentView>,
    samples: Vec<StoredSample>,
}

async fn load(
    state: &AppState,
    id: &str,
    chart: &str,
    now: DateTime<Utc>,
) -> Result<Detail, ApiError> {
    let (chart_range, hours) = CHART_RANGES
        .into_iter()
        .find(|(n, _)| *n == chart)
        .unwrap_or(CHART_RANGES[1]);
    let chart_from = now - Duration::hours(hours);
    // About a few hundred buckets whatever the range; the chart merges them into its columns.
    let resolution = if hours <= 24 {
        Resolution::Minute
    } else {
        Resolution::Hour
    };
    let daily_from =
        from_ms(Resolution::Day.floor(ms(now - Duration::days(DAILY_DAYS as i64 - 1))));
    let store = &state.store;
    Ok(Detail {
        uptime: uptime(state, id, now).await?,
        daily: store
            .series(id, Resolution::Day, daily_from, now)
            .await
            .map_err(internal)?,
        daily_from,
        chart_range,
        chart_from,
        series: store
            .series(id, resolution, chart_from, now)
            .await
            .map_err(internal)?,
        incidents: model::incidents(
            state,
            IncidentFilter {
                targets: Some(vec![id.to_string()]),
                limit: 20,
                ..IncidentFilter::default()
            },
        )
        .await?,
        samples: store.recent_samples(id, 20).await.map_err(internal)?,
    })
}

/// `GET /targets/{id}`.
pub async fn page(
    id: String,
    ctx: PageCtx,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let t = ctx.lang.t();
    let Some(row) = state.board.get(&id) else {
        let body = html! { h1 { (t.not_found) } p { code { (id) } } };
        let mut r = ctx.finish(layout(&ctx, t.not_found, Nav::Target, false, body));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return Ok(r);
    };
    let now = crate::time::now_ms();
    let chart = ctx.query.get("chart").map(String::as_str).unwrap_or("24h");
    let d = load(&state, &id, chart, now)
        .await
        .map_err(|e| super::form::page_error(&ctx, e, Nav::Overview))?;
    let title = row.target.name.clone();
    Ok(ctx.finish(layout(
        &ctx,
        &title,
        Nav::Target,
        true,
        render(&ctx, &row, &d, now),
    )))
}

fn render(ctx: &PageCtx, row: &TargetStatus, d: &Detail, now: DateTime<Utc>) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let tg = &row.target;
    let st = &row.state;
    let l = &tg.labels;
    html! {
        h1 { bdi { (tg.name) } }
        p class={ "state st s-" (st.state.as_str()) } data-target=(tg.id) {
            span.ic aria-hidden="true" { (icon(st.state)) } " " span.lb { (lang.state(st.state)) }
            " · " (t.since) " " span.abs { (crate::time::local_datetime(st.since)) } ", " (ago(lang, st.since, now))
            @if st.flapping { " · ≈ " (t.flapping) }
            @if let Some(p) = &st.explained_by {
                " · " (t.explained_by) " " a href={ "/targets/" (seg(p)) } { (p) }
            }
        }
        (last_result(lang, row, now))
        section {
            h2 { (t.facts) }
            dl.facts {
                dt { (t.id) } dd { code { (tg.id) } }
                dt { (t.kind) } dd { (tg.kind()) }
                dt { (t.endpoint) } dd { code { (tg.spec.endpoint()) } }
                dt { (t.province) } dd { bdi { (or(&l.province, t.no_province)) } }
                dt { (t.commune) } dd {
                    a href=(super::href(&format!("/groups/commune/{}", seg(&l.commune)), [("province", l.province.as_str())])) {
                        bdi { (or(&l.commune, t.no_commune)) }
                    }
                }
                dt { (t.operator) } dd {
                    a href={ "/groups/operator/" (seg(&l.operator)) } { bdi { (or(&l.operator, t.other)) } }
                }
                dt { (t.service) } dd { bdi { (or(&l.service, "—")) } }
                @if !l.tags.is_empty() {
                    dt { (t.tags) } dd { bdi { (l.tags.join(", ")) } }
                }
                @if !tg.depends_on.is_empty() {
                    dt { (t.depends_on) } dd {
                        @for (i, p) in tg.depends_on.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href={ "/targets/" (seg(p)) } { (p) }
                        }
                    }
                }
                dt { (t.interval) } dd { (humantime::format_duration(tg.interval)) }
                dt { (t.timeout) } dd { (humantime::format_duration(tg.timeout)) }
                dt { (t.thresholds) } dd {
                    (tg.failure_threshold) " / " (tg.success_threshold)
                    " " span.muted { "(" (t.thresholds_note) ")" }
                }
            }
        }
        section {
            h2 { (t.uptime) }
            table.uptime {
                tbody {
                    @for (i, (_, a)) in d.uptime.iter().enumerate() {
                        tr {
                            th scope="row" { (t.windows[i]) }
                            td { (chart::uptime_bar(lang, a.ratio)) }
                            td.muted { (a.count) " " (t.samples) }
                        }
                    }
                }
            }
            p.muted { (t.daily_strip) }
            (chart::daily_strip(lang, &d.daily, d.daily_from, DAILY_DAYS))
        }
        section {
            h2 { (t.chart_title) }
            nav.tabs aria-label=(t.range) {
                @for (name, _) in CHART_RANGES {
                    a href=(ctx.with(&[("chart", Some(name))])) aria-current=[(d.chart_range == name).then_some("page")] { (name) }
                }
            }
            (chart::latency_chart(lang, &d.series, d.chart_from, now))
        }
        section {
            h2 { (t.incidents) }
            @if d.incidents.is_empty() {
                p.muted { (t.no_incidents) }
            } @else {
                ul.inc { @for i in &d.incidents { li { (incident_item(lang, i, now)) (ack_control(ctx, i)) } } }
            }
        }
        section {
            h2 { (t.recent_samples) }
            (samples(lang, &d.samples, now))
        }
    }
}

/// The last result, and the failing checks in their resolved form (`status (503) in [200]`).
fn last_result(lang: Lang, row: &TargetStatus, now: DateTime<Utc>) -> Markup {
    let t = lang.t();
    html! {
        @if let Some(last) = &row.last {
            section.last {
                h2 { (t.last_result) }
                p {
                    (at(lang, last.at, now)) " · "
                    @if last.ok { "✔ " (t.ok) } @else { "✖ " (t.failed) }
                    " · " (t.latency) " " (format!("{:.0} ms", last.latency_seconds * 1e3))
                }
                @if !last.ok {
                    @if last.error.as_deref() == Some("check_failed") {
                        p { (t.failing_checks) ":" }
                        ul.checks {
                            @for c in last.detail.as_deref().unwrap_or("").split("; ").filter(|c| !c.is_empty()) {
                                li { "✖ " code { bdi { (c) } } }
                            }
                        }
                    } @else {
                        p {
                            (t.error) ": " code { (last.error.as_deref().unwrap_or("")) }
                            @if let Some(d) = &last.detail { " — " bdi { (d) } }
                        }
                    }
                }
            }
        } @else {
            p.muted { (t.never_checked) }
        }
    }
}

fn samples(lang: Lang, list: &[StoredSample], now: DateTime<Utc>) -> Markup {
    let t = lang.t();
    html! {
        @if list.is_empty() {
            p.muted { (t.no_data) }
        } @else {
            div.wrap {
                table.samples {
                    (super::head(&[t.time, t.result, t.latency, t.error]))
                    tbody {
                        @for s in list {
                            tr class=(if s.ok { "ok" } else { "bad" }) {
                                td { (crate::time::local_datetime(s.at)) " " span.muted { (ago(lang, s.at, now)) } }
                                td { @if s.ok { "✔ " (t.ok) } @else { "✖ " (t.failed) } }
                                td { (format!("{:.0} ms", s.latency_seconds * 1e3)) }
                                td {
                                    @if let Some(e) = &s.error { code { (e) } }
                                    @if let Some(d) = &s.detail { " " bdi { (d) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

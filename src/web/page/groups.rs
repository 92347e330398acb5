//! Group pages: every operator, service, province or commune with its availability over a
//! chosen range (`/groups/{by}`), and one group in detail (`/groups/{by}/{key}`).

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use warp::http::StatusCode;

use super::incidents::incident_item;
use super::{Nav, PageCtx, ago, badge, head, href, layout, or, seg};
use crate::shared::AppState;
use crate::web::page::chart;
use crate::web::view::model::{self, GroupBy};
use crate::web::view::query::time_range;

/// Ranges offered as links; any `range`, `from` or `to` the API accepts also works.
const RANGES: [&str; 4] = ["24h", "7d", "30d", "90d"];

fn not_found(ctx: &PageCtx, what: &str) -> warp::reply::Response {
    let t = ctx.lang.t();
    let body = html! { h1 { (t.not_found) } p { code { (what) } } };
    let mut r = ctx.finish(layout(ctx, t.not_found, Nav::Groups, false, body));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

fn tabs(ctx: &PageCtx, by: GroupBy) -> Markup {
    let t = ctx.lang.t();
    html! {
        nav.tabs aria-label=(t.groups) {
            @for g in GroupBy::ALL {
                a href=(href(&format!("/groups/{}", g.as_str()), ctx.query.get("range").map(|r| ("range", r.as_str()))))
                    aria-current=[(g == by).then_some("page")] { (t.group_by[g.index()]) }
            }
        }
    }
}

fn ranges(ctx: &PageCtx) -> Markup {
    let t = ctx.lang.t();
    let current = ctx.query.get("range").map(String::as_str).unwrap_or("24h");
    html! {
        nav.tabs aria-label=(t.range) {
            @for r in RANGES {
                a href=(ctx.with(&[("range", Some(r)), ("from", None), ("to", None)]))
                    aria-current=[(r == current).then_some("page")] { (r) }
            }
        }
    }
}

fn range_line(ctx: &PageCtx, from: DateTime<Utc>, to: DateTime<Utc>) -> Markup {
    html! {
        p.muted {
            (ctx.lang.t().range) ": " (crate::time::local_datetime(from)) " – " (crate::time::local_datetime(to))
        }
    }
}

/// `GET /groups/{by}`.
pub async fn index(
    by: String,
    ctx: PageCtx,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let Some(by) = GroupBy::parse(&by) else {
        return Ok(not_found(&ctx, &by));
    };
    let lang = ctx.lang;
    let t = lang.t();
    let (from, to) =
        time_range(&ctx.query).map_err(|e| super::form::page_error(&ctx, e, Nav::Groups))?;
    let groups = model::group_index(&state, by, from, to)
        .await
        .map_err(|e| super::form::page_error(&ctx, e, Nav::Groups))?;
    let body = html! {
        h1 { (t.groups) }
        (tabs(&ctx, by))
        (ranges(&ctx))
        (range_line(&ctx, from, to))
        div.wrap {
            table.groups {
                (head(&[t.group_key, t.targets_word, t.down_now, t.availability]))
                tbody {
                    @for g in &groups {
                        @let link = href(
                            &format!("/groups/{}/{}", by.as_str(), seg(&g.key)),
                            g.province.iter().map(|p| ("province", p.as_str()))
                                .chain(ctx.query.get("range").map(|r| ("range", r.as_str()))),
                        );
                        tr {
                            th scope="row" {
                                a href=(link) { bdi { (or(&g.key, t.other)) } }
                                @if let Some(p) = &g.province { " " span.prov { bdi { (or(p, t.no_province)) } } }
                            }
                            td { (g.targets) }
                            td { @if g.down_now > 0 { "✖ " } (g.down_now) }
                            td.ub { (chart::uptime_bar(lang, g.ratio)) }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.finish(layout(&ctx, t.groups, Nav::Groups, true, body)))
}

/// `GET /groups/{by}/{key}` (`?province=` narrows a commune, whose name may repeat).
pub async fn detail(
    by: String,
    key: String,
    ctx: PageCtx,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let key = crate::web::view::query::decode_segment(&key);
    let Some(by) = GroupBy::parse(&by) else {
        return Ok(not_found(&ctx, &by));
    };
    let lang = ctx.lang;
    let t = lang.t();
    let (from, to) =
        time_range(&ctx.query).map_err(|e| super::form::page_error(&ctx, e, Nav::Groups))?;
    let province = ctx.query.get("province").filter(|p| !p.is_empty()).cloned();
    let Some(g) = model::group(&state, by, &key, province.as_deref(), from, to)
        .await
        .map_err(|e| super::form::page_error(&ctx, e, Nav::Groups))?
    else {
        return Ok(not_found(&ctx, &key));
    };
    let now = crate::time::now_ms();
    let title = match &g.province {
        Some(p) => format!("{} — {p}", or(&g.key, t.other)),
        None => or(&g.key, t.other).to_string(),
    };
    let body = html! {
        p.muted { a href={ "/groups/" (by.as_str()) } { (t.group_by[by.index()]) } }
        h1 { bdi { (title) } }
        (ranges(&ctx))
        (range_line(&ctx, from, to))
        p.big { (t.availability) ": " (chart::uptime_bar(lang, g.availability.ratio)) " " span.muted { "(" (g.availability.count) " " (t.samples) ")" } }
        ul.summary {
            @for st in crate::state::State::ALL {
                @let n = g.states.get(st);
                @if n > 0 { li { (badge(lang, st)) ": " strong { (n) } } }
            }
        }
        section {
            h2 { (t.incidents_open) " (" (g.incidents_open.len()) ")" }
            @if g.incidents_open.is_empty() {
                p.muted { (t.no_open_incidents) }
            } @else {
                ul.inc { @for i in &g.incidents_open { li { (incident_item(lang, i, now)) } } }
            }
        }
        section {
            h2 { (t.targets_title) " (" (g.targets.len()) ")" }
            div.wrap {
                table.groups {
                    (head(&[t.target, t.state, t.availability]))
                    tbody {
                        @for x in &g.targets {
                            tr {
                                th scope="row" {
                                    a href={ "/targets/" (seg(&x.id)) } { bdi { (x.name) } }
                                    br;
                                    span.muted { bdi { (or(&x.labels.commune, t.no_commune)) } " · " bdi { (or(&x.labels.operator, t.other)) } " · " bdi { (or(&x.labels.service, "—")) } }
                                }
                                td {
                                    span data-target=(x.id) class={ "st s-" (x.state.as_str()) } {
                                        span.ic aria-hidden="true" { (crate::web::page::i18n::icon(x.state)) } " " span.lb { (lang.state(x.state)) }
                                        " · " (ago(lang, x.since, now))
                                    }
                                }
                                td.ub { (chart::uptime_bar(lang, x.availability.ratio)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.finish(layout(&ctx, &title, Nav::Groups, true, body)))
}

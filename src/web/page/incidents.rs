//! The incidents page, and the incident line every page uses: what broke, where, since when,
//! why, and whether an officer has taken it.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::{Nav, PageCtx, ago, at, badge, layout, or, seg};
use crate::app::AppState;
use crate::web::i18n::Lang;
use crate::web::model::{self, IncidentView};

/// Incidents per page.
const PER_PAGE: usize = 50;

/// One incident: state, target, place, start, duration, cause, acknowledgement.
pub fn incident_item(lang: Lang, i: &IncidentView, now: DateTime<Utc>) -> Markup {
    let t = lang.t();
    let inc = &i.incident;
    let cause = inc.cause_detail.as_deref().or(inc.cause_error.as_deref());
    html! {
        div.incident data-incident=(inc.id) {
            div.l1 {
                (badge(lang, inc.worst_state)) " "
                a href={ "/targets/" (seg(&inc.target)) } { strong { bdi { (i.name.as_deref().unwrap_or(&inc.target)) } } }
                @if let Some(l) = &i.labels {
                    span.place {
                        " · " bdi { (or(&l.commune, t.no_commune)) } " · " bdi { (or(&l.operator, t.other)) }
                        @if !l.service.is_empty() { " · " bdi { (l.service) } }
                    }
                }
                @if !inc.open {
                    span.closed { "✔ " (t.closed) }
                }
                @if let Some(a) = i.acks.last() {
                    span.ack {
                        "✓ " (t.acked_by) ": " strong { bdi { (a.author) } } " — " (ago(lang, a.at, now))
                        @if !a.comment.is_empty() { ": “" bdi { (a.comment) } "”" }
                        @if i.acks.len() > 1 { " (+" (i.acks.len() - 1) ")" }
                    }
                } @else if inc.open {
                    span.unacked { "⚑ " (t.not_acked) }
                }
            }
            div.l2.muted {
                (t.started) " " (at(lang, inc.started_at, now))
                " · " (t.duration) " " (lang.duration(inc.duration_seconds))
                @if let Some(end) = inc.ended_at {
                    " · " (t.ended) " " (crate::time::local_datetime(end))
                }
                @if let Some(c) = cause {
                    " · " (t.cause) ": " code { bdi { (c) } }
                }
                @if let Some(p) = &inc.explained_by {
                    " (" (t.explained_by) " " a href={ "/targets/" (seg(p)) } { (p) } ")"
                }
            }
        }
    }
}

/// `GET /incidents`.
pub async fn page(ctx: PageCtx, state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let t = ctx.lang.t();
    let mut q = ctx.query.clone();
    let status = q
        .get("status")
        .cloned()
        .unwrap_or_else(|| "open".to_string());
    q.insert("status".into(), status.clone());
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    // One more than a page, to know whether there is a next one.
    q.insert("limit".into(), (PER_PAGE + 1).to_string());
    q.insert("offset".into(), ((page - 1) * PER_PAGE).to_string());
    let filter = model::incident_filter(&state, &q).map_err(warp::reject::custom)?;
    let mut list = model::incidents(&state, filter)
        .await
        .map_err(warp::reject::custom)?;
    let more = list.len() > PER_PAGE;
    list.truncate(PER_PAGE);
    let now = Utc::now();
    let tab = |value: &str, label: &str| {
        html! {
            a href=(ctx.with(&[("status", Some(value)), ("page", None)]))
                aria-current=[(status == value).then_some("page")] { (label) }
        }
    };
    let body = html! {
        h1 { (t.incidents) }
        nav.tabs aria-label=(t.status) {
            (tab("open", t.open)) (tab("closed", t.closed)) (tab("all", t.all))
        }
        @if list.is_empty() {
            p { (t.no_incidents) }
        } @else {
            ul.inc {
                @for i in &list { li { (incident_item(ctx.lang, i, now)) } }
            }
        }
        nav.pager aria-label=(t.page) {
            @if page > 1 {
                a rel="prev" href=(ctx.with(&[("page", Some(&(page - 1).to_string()))])) { (t.prev) }
            }
            span { (t.page) " " (page) }
            @if more {
                a rel="next" href=(ctx.with(&[("page", Some(&(page + 1).to_string()))])) { (t.next) }
            }
        }
        p.muted { (t.ack_howto) }
    };
    Ok(ctx.finish(layout(&ctx, t.incidents, Nav::Incidents, true, body)))
}

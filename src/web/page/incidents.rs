//! The incidents page, and the incident line every page uses: what broke, where, since when,
//! why, and whether an officer has taken it; with the form officers take an open incident with
//! (`POST /incidents/{id}/ack`, the same path as the API's acknowledgement).

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use warp::Filter;

use super::{Nav, PageCtx, ago, at, badge, form, layout, or, seg};
use crate::config::Role;
use crate::shared::AppState;
use crate::store::acks::MAX_COMMENT_CHARS;
use crate::web::page::i18n::Lang;
use crate::web::view::ack::{self, AckError};
use crate::web::view::model::{self, IncidentView};
use crate::web::view::query::Query;

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

/// Under an open incident: the acknowledge form for officers and admins (also when someone
/// already took it: a second officer adds theirs), a sign-in link for a reader who is not
/// signed in, nothing for a viewer. After posting, the browser comes back to this page.
pub fn ack_control(ctx: &PageCtx, i: &IncidentView) -> Markup {
    let t = ctx.lang.t();
    let inc = &i.incident;
    let role = ctx.caller.as_ref().map(|c| c.role);
    html! {
        @if inc.open {
            @if role.is_none() {
                p.acklogin.noprint { a href="/login" { (t.ack_sign_in) } }
            } @else if role >= Some(Role::Officer) {
                @let name = i.name.as_deref().unwrap_or(&inc.target);
                form.ackform.noprint method="post" action={ "/incidents/" (inc.id) "/ack" }
                    aria-label={ (t.ack_submit) ": " (name) } {
                    (form::hidden_token(ctx))
                    input type="hidden" name="return" value=(ctx.with(&[]));
                    input type="text" name="comment" maxlength=(MAX_COMMENT_CHARS) autocomplete="off"
                        placeholder=(t.ack_comment) aria-label=(t.ack_comment);
                    button type="submit" {
                        "✓ " @if i.acks.is_empty() { (t.ack_submit) } @else { (t.ack_also) }
                    }
                }
            }
        }
    }
}

/// `POST /incidents/{id}/ack` (officer): acknowledges from the page, then back to `return`.
async fn ack_submit(
    id: String,
    ctx: PageCtx,
    fields: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let back = form::local_return(fields.get("return").map(String::as_str), "/incidents");
    let caller = match form::caller(&ctx, &fields, Role::Officer) {
        Ok(c) => c,
        Err(e) => {
            let sign_in = ctx.lang.f().ack_login;
            return Ok(form::refused(&ctx, e, sign_in, back, Nav::Incidents));
        }
    };
    let comment = fields.get("comment").map_or("", String::as_str);
    let done = match ack::parse_id(&id) {
        Ok(incident) => ack::record(&state, incident, &caller.name, comment).await,
        Err(e) => Err(e),
    };
    Ok(match done {
        Ok(_) => form::see_other(back),
        Err(e) => {
            if let AckError::Store(s) = &e {
                tracing::error!(error = %s, incident = %id, "acknowledgement not stored");
            }
            let msg = ctx.lang.ack_error(&e);
            form::problem(&ctx, e.status(), &msg, back, Nav::Incidents)
        }
    })
}

/// The acknowledge form's route, merged into the page routes.
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    warp::path!("incidents" / String / "ack")
        .and(form::post(state))
        .and_then(ack_submit)
        .boxed()
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
    let filter = model::incident_filter(&state, &q)
        .map_err(|e| super::form::page_error(&ctx, e, Nav::Incidents))?;
    let mut list = model::incidents(&state, filter)
        .await
        .map_err(|e| super::form::page_error(&ctx, e, Nav::Incidents))?;
    let more = list.len() > PER_PAGE;
    list.truncate(PER_PAGE);
    let now = crate::time::now_ms();
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
                @for i in &list { li { (incident_item(ctx.lang, i, now)) (ack_control(&ctx, i)) } }
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

//! The drill pages: the list (`/drills`), the after-action report (`/drills/{id}`, and the same
//! report as `/drills/{id}.csv` and `.json`), the banner every page shows while a drill runs,
//! and the forms signed-in officers use to start and stop drills and add timeline notes.
//!
//! The forms post to `/drills`, `/drills/{id}/stop` and `/drills/{id}/notes`, reuse the API's
//! request types and the drill service (same checks, same roles: admin starts and stops,
//! officer adds notes), and answer with a redirect back to the page, or with the page again
//! showing what went wrong and the values as typed.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;
use maud::{Markup, html};
use warp::Filter;
use warp::http::{HeaderValue, StatusCode};

use super::{Nav, PageCtx, badge, form, head, layout, or, seg};
use crate::config::Role;
use crate::config::drills::OneOrMany;
use crate::drill::report::{GroupRow, Outage, Report, Stats, TimelineKind};
use crate::drill::service::{self, DrillError};
use crate::drill::{Drill, RunningDrill, db};
use crate::shared::AppState;
use crate::time;
use crate::web::auth::{self, FormAuthError};
use crate::web::error::{ApiError, internal, reject};
use crate::web::page::i18n::Lang;
use crate::web::page::report_csv;
use crate::web::view;
use crate::web::view::drills::{
    ExpectedDown, NoteRequest, RequestError, StartRequest, new_drill, new_note,
};
use crate::web::view::query::Query;
use crate::web::{compress, with_state};
use form::hidden_token;

mod forms;
mod report_page;

use forms::*;
pub use report_page::render_report;
use report_page::*;

/// Drills listed on `/drills`, newest first.
const LIST_LIMIT: usize = 200;

/// The banner on every page while drills run: name, elapsed time (kept current by the page
/// script), planned end.
pub fn banner(lang: Lang, drills: &[RunningDrill], now: DateTime<Utc>) -> Markup {
    let d = lang.d();
    html! {
        @if !drills.is_empty() {
            div.drillbar role="status" {
                @for r in drills {
                    p {
                        span aria-hidden="true" { "⚑ " }
                        strong { (d.banner) } ": "
                        a href={ "/drills/" (r.id) } { bdi { (r.name) } }
                        " · " (d.elapsed) " "
                        time datetime=(time::local_rfc3339(r.started_at)) title=(time::local_datetime(r.started_at)) data-elapsed {
                            (lang.duration((now - r.started_at).num_seconds() as f64))
                        }
                        " · " (d.planned_end) " " (time::local_datetime(r.planned_end))
                    }
                }
            }
        }
    }
}

/// What `/drills/{id}` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Csv,
    Json,
}

fn split_format(s: &str) -> (&str, Format) {
    if let Some(id) = s.strip_suffix(".csv") {
        (id, Format::Csv)
    } else if let Some(id) = s.strip_suffix(".json") {
        (id, Format::Json)
    } else {
        (s, Format::Html)
    }
}

fn not_found(what: &str) -> warp::Rejection {
    reject(ApiError::not_found(format!("no drill `{what}`")))
}

fn parse_id(s: &str) -> Result<i64, warp::Rejection> {
    s.parse::<i64>().map_err(|_| not_found(s))
}

// ----- formatting ------------------------------------------------------------------------

fn pct(lang: Lang, r: Option<f64>) -> String {
    lang.percent(r)
}

/// A length of time, or "—"; negative values (a note written after the fault) keep the sign.
fn dur(lang: Lang, s: Option<f64>) -> String {
    match s {
        None => "—".to_string(),
        Some(v) if v < 0.0 => format!("−{}", lang.duration(-v)),
        Some(v) => lang.duration(v),
    }
}

fn when(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(time::local_rfc3339(t)) { (time::local_datetime(t)) } }
}

fn scope_text(lang: Lang, d: &Drill) -> String {
    if d.scope.is_empty() {
        return lang.d().scope_all.to_string();
    }
    d.scope
        .iter()
        .map(|(k, v)| format!("{k} = {}", v.join(", ")))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn group_name(lang: Lang, g: &GroupRow) -> String {
    let t = lang.t();
    match &g.province {
        Some(p) if !p.is_empty() => format!("{} ({p})", or(&g.key, t.no_commune)),
        Some(_) => or(&g.key, t.no_commune).to_string(),
        None => or(&g.key, t.other).to_string(),
    }
}

// ----- list page -------------------------------------------------------------------------

fn start_form(ctx: &PageCtx, retry: Option<&Retry<'_>>) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    let field = |name: &str, label: &str, placeholder: &str| {
        html! {
            label {
                span { (label) }
                input type="text" name=(name) value=(value(retry, name)) placeholder=(placeholder) autocomplete="off";
            }
        }
    };
    html! {
        section.noprint #start {
            h2 { (d.start_title) }
            @if let Some(r) = retry { p.banner role="alert" { (lang.f().error) ": " (r.error) } }
            form.filters method="post" action="/drills" {
                (hidden_token(ctx))
                label {
                    span { (d.name) }
                    input type="text" name="name" value=(value(retry, "name")) required maxlength="200" autocomplete="off";
                }
                label.wide {
                    span { (d.scenario) }
                    textarea name="scenario" rows="2" maxlength=(service::MAX_TEXT_CHARS) { (value(retry, "scenario")) }
                }
                (field("province", t.province, "Hà Tĩnh"))
                (field("commune", t.commune, "Kỳ Anh, Cẩm Xuyên"))
                (field("operator", t.operator, "viettel, vnpt"))
                (field("service", t.service, "mobile"))
                (field("leaders", &format!("{} ({})", d.leaders, d.leaders_hint), ""))
                (field("duration", d.duration, "2h"))
                (field("interval", d.interval, "10s"))
                (field("baseline", d.baseline_field, "7d"))
                p.muted.wide { (d.scope_hint) }
                div.actions { button type="submit" { "▶ " (d.start_submit) } }
            }
        }
    }
}

fn render_list(
    ctx: &PageCtx,
    list: &[Drill],
    now: DateTime<Utc>,
    retry: Option<&Retry<'_>>,
) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    let role = ctx.caller.as_ref().map(|c| c.role);
    let body = html! {
        h1 { (d.title) }
        @if list.is_empty() {
            p { (d.none) }
        } @else {
            div.wrap {
                table.report {
                    (head(&[d.name, d.status, t.started, t.duration, t.targets_word, d.scope]))
                    tbody {
                        @for x in list {
                            tr {
                                th scope="row" { a href={ "/drills/" (x.id) } { bdi { (x.name) } } }
                                td {
                                    @if x.running() { strong { "⚑ " (d.running) } } @else { "■ " (d.ended) }
                                }
                                td { (when(x.started_at)) }
                                td { (lang.duration((x.end_or(now) - x.started_at).num_seconds() as f64)) }
                                td.num { (x.targets) }
                                td { bdi { (scope_text(lang, x)) } }
                            }
                        }
                    }
                }
            }
        }
        @if role >= Some(Role::Admin) {
            (start_form(ctx, retry))
        } @else if role.is_none() {
            p.muted.noprint { a href="/login" { (t.login_title) } " — " (d.login_to_control) }
        }
    };
    layout(ctx, d.title, Nav::Drills, true, body)
}

async fn list_drills(state: &AppState) -> Result<Vec<Drill>, warp::Rejection> {
    state
        .store
        .query(|c| db::list(c, None, LIST_LIMIT))
        .await
        .map_err(internal)
}

/// `GET /drills`.
async fn list_page(
    ctx: PageCtx,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let list = list_drills(&state).await?;
    Ok(ctx.finish(render_list(&ctx, &list, crate::time::now_ms(), None)))
}

/// `GET /drills/{id}`.
async fn report_page(
    id: String,
    ctx: PageCtx,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let r = view::drills::report(&state, parse_id(&id)?).await?;
    Ok(ctx.finish(render_report(&ctx, &r, crate::time::now_ms(), None, None)))
}

/// `GET /drills/{id}.csv` and `.json`.
async fn report_data(
    id: String,
    ctx: PageCtx,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let (raw, format) = split_format(&id);
    let r = view::drills::report(&state, parse_id(raw)?).await?;
    let mut resp = match format {
        Format::Csv => compress::respond(
            report_csv::render(&r, ctx.lang).into_bytes(),
            "text/csv; charset=utf-8",
            ctx.gzip,
        ),
        _ => view::drills::report_json(&r, ctx.gzip)?,
    };
    if format == Format::Csv {
        let name = format!("attachment; filename=\"drill-{}.csv\"", r.drill.id);
        if let Ok(v) = HeaderValue::from_str(&name) {
            resp.headers_mut().insert("content-disposition", v);
        }
    }
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// The drill pages and forms, merged into the page routes.
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let ctx = || super::ctx(state.clone());
    let page = || warp::get().and(auth::page_access(state.clone()));
    let posted = || form::post(state.clone());
    let list = warp::path!("drills")
        .and(page())
        .and(ctx())
        .and(with_state(state.clone()))
        .and_then(list_page);
    // `/drills/{id}` is the page (sign-in redirect when private); `.csv` and `.json` are data,
    // refused with a JSON 401 instead, so scripts and the CLI see an error, not a login form.
    // `/drills/{id}` (`html`) or `/drills/{id}.csv|.json` (`!html`).
    let report_path = |html: bool| {
        warp::path!("drills" / String)
            .and(warp::get())
            .and_then(move |s: String| async move {
                if (split_format(&s).1 == Format::Html) == html {
                    Ok(s)
                } else {
                    Err(warp::reject::not_found())
                }
            })
    };
    let html_report = report_path(true)
        .and(auth::page_access(state.clone()))
        .and(ctx())
        .and(with_state(state.clone()))
        .and_then(report_page);
    let data_report = report_path(false)
        .and(auth::read_access(state.clone()))
        .and(ctx())
        .and(with_state(state.clone()))
        .and_then(report_data);
    let start = warp::path!("drills").and(posted()).and_then(start_submit);
    let stop = warp::path!("drills" / i64 / "stop")
        .and(posted())
        .and_then(stop_submit);
    let note = warp::path!("drills" / i64 / "notes")
        .and(posted())
        .and_then(note_submit);
    list.boxed()
        .or(html_report.boxed())
        .unify()
        .or(data_report.boxed())
        .unify()
        .or(start.boxed())
        .unify()
        .or(stop.boxed())
        .unify()
        .or(note.boxed())
        .unify()
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_paths_name_their_format() {
        assert_eq!(split_format("12"), ("12", Format::Html));
        assert_eq!(split_format("12.csv"), ("12", Format::Csv));
        assert_eq!(split_format("12.json"), ("12", Format::Json));
        assert!(parse_id("x").is_err());
        assert!(parse_id("12.pdf").is_err());
    }

    #[test]
    fn form_times_are_vietnam_time() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 20, 20, 0, 0)
            .single()
            .unwrap();
        // 20:00 UTC is already 03:00 on the 21st in Vietnam: "14:05" means the 21st.
        assert_eq!(
            parse_local("14:05", now),
            Utc.with_ymd_and_hms(2026, 11, 21, 7, 5, 0).single()
        );
        assert_eq!(
            parse_local("2026-11-20T14:05", now),
            Utc.with_ymd_and_hms(2026, 11, 20, 7, 5, 0).single()
        );
        assert_eq!(
            parse_local(" 2026-11-20 14:05:30 ", now),
            Utc.with_ymd_and_hms(2026, 11, 20, 7, 5, 30).single()
        );
        assert_eq!(parse_local("tomorrow", now), None);
    }

    #[test]
    fn forms_become_api_requests() {
        let f: Query = [
            ("name", "Bão số 3"),
            ("operator", "viettel, vnpt ,"),
            ("commune", ""),
            ("leaders", "A\nB"),
            ("duration", " 2h "),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = start_request(&f);
        assert_eq!(r.scope.len(), 1);
        assert_eq!(
            r.scope["operator"],
            OneOrMany::Many(vec!["viettel".into(), "vnpt".into()])
        );
        assert_eq!(r.leaders, ["A", "B"]);
        assert_eq!(r.duration.as_deref(), Some("2h"));
        assert_eq!(r.interval, None);

        let now = crate::time::now_ms();
        let note: Query = [
            ("text", "cắt cáp"),
            ("expected", "a1, a2"),
            ("until", "14:30"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let n = note_request(&note, now).unwrap();
        let e = n.expected_down.unwrap();
        assert_eq!(e.targets, ["a1", "a2"]);
        assert!(e.until.is_some());
        let bad: Query = [("text", "x"), ("at", "soon")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            note_request(&bad, now).unwrap_err(),
            RequestError::Time {
                field: "at",
                value: "soon".into()
            }
        );
    }
}

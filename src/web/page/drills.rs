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
use crate::drill::report::{self, GroupRow, Outage, Report, Stats, TimelineKind};
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

// ----- report page -----------------------------------------------------------------------

/// A form to show again after an error, with the values as typed.
pub struct Retry<'a> {
    pub values: &'a Query,
    pub error: String,
}

fn value<'a>(retry: Option<&'a Retry<'_>>, key: &str) -> &'a str {
    retry
        .and_then(|r| r.values.get(key))
        .map_or("", String::as_str)
}

/// The controls above the report: stop (admin, while running) and the note form (officer).
fn controls(ctx: &PageCtx, r: &Report, retry: Option<&Retry<'_>>, error: Option<&str>) -> Markup {
    let d = ctx.lang.d();
    let t = ctx.lang.t();
    let id = r.drill.id;
    let role = ctx.caller.as_ref().map(|c| c.role);
    html! {
        div.noprint {
            @if let Some(e) = error.or(retry.map(|r| r.error.as_str())) {
                p.banner role="alert" { (ctx.lang.f().error) ": " (e) }
            }
            @if role.is_none() {
                p.muted { a href="/login" { (t.login_title) } " — " (d.login_to_control) }
            }
            @if r.running && role >= Some(Role::Admin) {
                form.filters method="post" action={ "/drills/" (id) "/stop" } {
                    (hidden_token(ctx))
                    div.actions { button type="submit" { "■ " (d.stop) } }
                }
            }
            @if role >= Some(Role::Officer) {
                form.filters.note method="post" action={ "/drills/" (id) "/notes" } aria-label=(d.note_title) {
                    (hidden_token(ctx))
                    label.wide {
                        span { (d.note_text) }
                        textarea name="text" rows="2" required maxlength=(service::MAX_TEXT_CHARS) { (value(retry, "text")) }
                    }
                    label {
                        span { (d.note_at) }
                        input type="text" name="at" value=(value(retry, "at")) placeholder="14:05 / 2026-11-20T14:05" autocomplete="off";
                    }
                    label {
                        span { (d.note_expected) }
                        input type="text" name="expected" value=(value(retry, "expected")) autocomplete="off";
                    }
                    label {
                        span { (d.note_until) }
                        input type="text" name="until" value=(value(retry, "until")) placeholder="14:35" autocomplete="off";
                    }
                    div.actions { button type="submit" { (d.note_submit) } }
                }
            }
        }
    }
}

fn facts(ctx: &PageCtx, r: &Report, now: DateTime<Utc>) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    let dr = &r.drill;
    html! {
        dl.facts {
            dt { (d.status) }
            dd {
                @if r.running {
                    strong { "⚑ " (d.running) } " · " (d.elapsed) " " (lang.duration((now - dr.started_at).num_seconds() as f64))
                } @else {
                    "■ " (d.ended)
                    @match dr.end_reason.as_deref() {
                        Some("planned_end") => { " (" (d.end_planned) ")" }
                        Some(_) => { " (" (d.end_stopped) ")" }
                        None => {}
                    }
                }
            }
            @if !dr.scenario.is_empty() {
                dt { (d.scenario) } dd.pre { bdi { (dr.scenario) } }
            }
            dt { (d.scope) } dd { bdi { (scope_text(lang, dr)) } }
            @if !dr.leaders.is_empty() {
                dt { (d.leaders) } dd { bdi { (dr.leaders.join(", ")) } }
            }
            dt { (t.started) } dd { (when(dr.started_at)) " · " (d.started_by) " " bdi { (dr.started_by) } }
            @if let Some(end) = dr.ended_at {
                dt { (t.ended) } dd {
                    (when(end))
                    @if let Some(by) = &dr.stopped_by { " · " (d.stopped_by) " " bdi { (by) } }
                }
            } @else {
                dt { (d.planned_end) } dd { (when(dr.planned_end)) }
            }
            dt { (t.duration) } dd { (lang.duration(r.window.seconds)) }
            @if let Some(i) = dr.interval_seconds {
                dt { (d.drill_interval) } dd { (lang.duration(i)) }
            }
            dt { (d.baseline) } dd { (when(r.baseline_window.from)) " – " (when(r.baseline_window.to)) }
            dt { (d.generated) } dd { (when(r.generated_at)) }
        }
    }
}

fn spread_text(lang: Lang, s: &report::Spread) -> String {
    let d = lang.d();
    if s.count == 0 {
        return "—".to_string();
    }
    format!(
        "{} {} · {} {} ({})",
        d.median,
        dur(lang, s.median_seconds),
        d.max,
        dur(lang, s.max_seconds),
        s.count
    )
}

fn summary(ctx: &PageCtx, r: &Report) -> Markup {
    let lang = ctx.lang;
    let d = lang.d();
    let s = &r.summary;
    let worst = |w: &Option<report::Worst>, placeholder: &str| match w {
        Some(w) => {
            let name = match &w.province {
                Some(p) if !p.is_empty() => format!("{} ({p})", w.key),
                _ => w.key.clone(),
            };
            html! { bdi { (name) } " — " (pct(lang, w.availability)) ", " (lang.minutes(w.downtime_seconds)) }
        }
        None => html! { (placeholder) },
    };
    html! {
        section #summary {
            h2 { (d.summary) }
            dl.facts {
                dt { (d.targets_in_scope) } dd { (s.targets) " (" (s.targets_with_data) " " (d.with_data) ")" }
                dt { (d.overall) } dd {
                    strong data-value="availability" { (pct(lang, s.drill.availability)) }
                    " · " (d.before) " " (pct(lang, s.baseline.availability))
                    " (" (lang.points(s.change)) ")"
                }
                dt { (d.downtime) } dd { (lang.minutes(s.drill.downtime_seconds)) " · " (s.drill.outages) " " (d.outages_word) }
                dt { (d.worst_operator) } dd { (worst(&s.worst_operator, d.no_outage)) }
                dt { (d.worst_commune) } dd { (worst(&s.worst_commune, d.no_outage)) }
                dt { (d.detection) } dd { (spread_text(lang, &s.detection)) }
                dt { (d.delivery) } dd { (spread_text(lang, &s.alert_delivery)) }
                dt { (d.acknowledgement) } dd { (spread_text(lang, &s.acknowledgement)) }
                dt { (d.restoration) } dd { (spread_text(lang, &s.restoration)) }
                dt { (d.injected) } dd { (s.expected_detected) "/" (s.expected_faults) " " (d.detected_of) }
            }
        }
    }
}

fn stats_cells(lang: Lang, drill: &Stats, baseline: &Stats, change: Option<f64>) -> Markup {
    html! {
        td.ub { (crate::web::page::chart::uptime_bar(lang, drill.availability)) }
        td.num { (pct(lang, baseline.availability)) }
        td.num { (lang.points(change)) }
        td.num { (lang.number(drill.downtime_seconds / 60.0, 1)) }
        td.num { (drill.outages) }
        td.num { (lang.number(drill.degraded_seconds / 60.0, 1)) }
    }
}

fn groups_table(ctx: &PageCtx, title: &str, groups: &[GroupRow], link: &str) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    html! {
        section {
            h2 { (title) }
            div.wrap {
                table.report {
                    (head(&[t.group_key, t.targets_word, t.availability, d.before, d.change, d.downtime_min, d.outages, d.degraded_min]))
                    tbody {
                        @for g in groups {
                            tr data-group=(g.key) {
                                th scope="row" {
                                    @let href = super::href(&format!("/groups/{link}/{}", seg(&g.key)), g.province.iter().map(|p| ("province", p.as_str())));
                                    a href=(href) { bdi { (group_name(lang, g)) } }
                                }
                                td.num { (g.targets) }
                                (stats_cells(lang, &g.drill, &g.baseline, g.change))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn targets_table(ctx: &PageCtx, r: &Report) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    html! {
        section {
            h2 { (d.by_target) " (" (r.targets.len()) ")" }
            div.wrap {
                table.report {
                    (head(&[t.target, t.availability, d.before, d.change, d.downtime_min, d.outages, d.degraded_min, d.samples_ok]))
                    tbody {
                        @for x in &r.targets {
                            tr data-target-row=(x.id) {
                                th scope="row" {
                                    a href={ "/targets/" (seg(&x.id)) } { bdi { (x.name) } }
                                    br;
                                    span.muted {
                                        bdi { (or(&x.commune, t.no_commune)) } " · " bdi { (or(&x.operator, t.other)) }
                                        " · " bdi { (or(&x.service, "—")) }
                                    }
                                }
                                (stats_cells(lang, &x.drill, &x.baseline, x.drill.availability.zip(x.baseline.availability).map(|(a, b)| a - b)))
                                td.num { (x.drill.samples_ok) "/" (x.drill.samples) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn delivery_list(lang: Lang, o: &Outage) -> Markup {
    let d = lang.d();
    html! {
        @if o.deliveries.is_empty() {
            span.muted { (d.no_alert) }
        } @else {
            ul.plain {
                @for x in &o.deliveries {
                    li {
                        bdi { (x.receiver) } ": "
                        @match (x.delivered_at, x.status.as_str()) {
                            (Some(_), _) => { "✉ +" (dur(lang, x.since_start_seconds)) }
                            (None, "dead") => { span.bad { "⊘ " (d.dead) } }
                            (None, _) => { span.warn { "◷ " (d.pending) } }
                        }
                        @if let Some(v) = &x.via { " (" (d.via) " " bdi { (v) } ")" }
                    }
                }
            }
        }
    }
}

fn outages_table(ctx: &PageCtx, r: &Report) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    html! {
        section #outages {
            h2 { (d.outages_title) " (" (r.outages.len()) ")" }
            @if r.outages.is_empty() {
                p.muted { (d.no_outages) }
            } @else {
                div.wrap {
                    table.report.outages {
                        (head(&[t.target, t.state, t.started, d.detected, d.alerts, d.acknowledged, d.restored, d.in_drill]))
                        tbody {
                            @for o in &r.outages {
                                tr data-incident=(o.incident_id) {
                                    th scope="row" {
                                        a href={ "/targets/" (seg(&o.target)) } { bdi { (o.name) } }
                                        br;
                                        span.muted { bdi { (or(&o.commune, t.no_commune)) } " · " bdi { (or(&o.operator, t.other)) } }
                                    }
                                    td {
                                        (badge(lang, o.worst_state))
                                        @if !o.counts_as_downtime { br; span.muted { (d.degraded_only) } }
                                        @if let Some(p) = &o.explained_by { br; span.muted { (t.explained_by) " " bdi { (p) } } }
                                    }
                                    td {
                                        (when(o.started_at))
                                        @if o.started_at < r.window.from { br; span.muted { (d.before_drill) } }
                                        @if let Some(c) = &o.cause { br; code { bdi { (c) } } }
                                    }
                                    td { (when(o.detected_at)) br; "+" (dur(lang, Some(o.detection_seconds))) }
                                    td { (delivery_list(lang, o)) }
                                    td {
                                        @if let Some(at) = o.acknowledged_at {
                                            "✓ " bdi { (o.acknowledged_by.as_deref().unwrap_or("")) } br;
                                            (when(at)) br; "+" (dur(lang, o.ack_seconds))
                                        } @else {
                                            span.warn { "⚑ " (t.not_acked) }
                                        }
                                    }
                                    td {
                                        @if let Some(end) = o.ended_at {
                                            "✔ " (when(end)) br; (dur(lang, o.restoration_seconds))
                                        } @else {
                                            span.bad { "✖ " (d.not_restored) }
                                        }
                                    }
                                    td.num { (lang.number(o.in_window_seconds / 60.0, 1)) }
                                }
                            }
                        }
                    }
                }
                p.muted { (d.alerts) ": " (d.after_start) "; " (d.acknowledged) ": " (d.after_detection) "." }
            }
        }
    }
}

fn expected_table(ctx: &PageCtx, r: &Report) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    html! {
        @if !r.expected_faults.is_empty() {
            section #expected {
                h2 { (d.injected) " (" (r.summary.expected_detected) "/" (r.summary.expected_faults) ")" }
                div.wrap {
                    table.report {
                        (head(&[d.note, t.target, d.expected_until, t.result, d.detection, d.restored]))
                        tbody {
                            @for e in &r.expected_faults {
                                tr {
                                    td { (when(e.note_at)) br; span.muted { bdi { (e.author) } } }
                                    th scope="row" { a href={ "/targets/" (seg(&e.target)) } { bdi { (e.name) } } }
                                    td { @if let Some(u) = e.expected_until { (when(u)) } @else { "—" } }
                                    td {
                                        @if e.detected { span.good { "✔ " (d.detected_yes) } }
                                        @else { span.bad { "✖ " (d.detected_no) } }
                                    }
                                    td { (dur(lang, e.detection_seconds)) }
                                    td { @if let Some(end) = e.ended_at { (when(end)) } @else { "—" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn kind_icon(k: TimelineKind) -> &'static str {
    match k {
        TimelineKind::DrillStarted => "▶",
        TimelineKind::Note => "✎",
        TimelineKind::IncidentStarted => "✖",
        TimelineKind::Detected => "⚠",
        TimelineKind::Worsened => "▼",
        TimelineKind::AlertDelivered => "✉",
        TimelineKind::AlertPending => "◷",
        TimelineKind::AlertFailed => "⊘",
        TimelineKind::Acknowledged => "✓",
        TimelineKind::Restored => "✔",
        TimelineKind::DrillEnded => "■",
    }
}

fn timeline(ctx: &PageCtx, r: &Report) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    html! {
        section #timeline {
            h2 { (d.timeline) " (" (r.timeline.len()) ")" }
            div.wrap {
                table.report.timeline {
                    (head(&[t.time, t.status, t.target]))
                    tbody {
                        @for e in &r.timeline {
                            tr class={ "k-" (e.kind.as_str()) } {
                                td { (when(e.at)) }
                                td { span aria-hidden="true" { (kind_icon(e.kind)) " " } (d.kinds[e.kind as usize]) }
                                td {
                                    @if let Some(n) = &e.name { bdi { (n) } " " }
                                    @if let Some(s) = e.state { (badge(lang, s)) " " }
                                    @if let Some(x) = &e.receiver { "→ " bdi { (x) } " " }
                                    @if let Some(a) = &e.author { span.muted { bdi { (a) } } ": " }
                                    @if let Some(x) = &e.text { bdi.pre { (x) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn notes(ctx: &PageCtx, r: &Report) -> Markup {
    let d = ctx.lang.d();
    html! {
        section #notes {
            h2 { (d.notes) " (" (r.notes.len()) ")" }
            @if r.notes.is_empty() {
                p.muted { (d.no_notes) }
            } @else {
                ul.plain {
                    @for n in &r.notes {
                        li {
                            (when(n.at)) " · " strong { bdi { (n.author) } } ": " bdi.pre { (n.text) }
                            @if !n.expected_targets.is_empty() {
                                " " span.tag { "⚑ " (d.injected) ": " bdi { (n.expected_targets.join(", ")) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The report as a page.
pub fn render_report(
    ctx: &PageCtx,
    r: &Report,
    now: DateTime<Utc>,
    retry: Option<&Retry<'_>>,
    error: Option<&str>,
) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let d = lang.d();
    let id = r.drill.id;
    let lang_q = format!("?lang={}", lang.code());
    let body = html! {
        article.report-page {
            p.muted.noprint { a href="/drills" { "‹ " (d.title) } }
            h1 { (d.report_title) ": " bdi { (r.drill.name) } }
            p.noprint {
                (d.download) ": "
                a href={ "/drills/" (id) ".csv" (lang_q) } download { "CSV" } " · "
                a href={ "/drills/" (id) ".json" } { "JSON" }
            }
            (controls(ctx, r, retry, error))
            (facts(ctx, r, now))
            (summary(ctx, r))
            (groups_table(ctx, t.group_by[0], &r.by_operator, "operator"))
            (groups_table(ctx, t.group_by[1], &r.by_service, "service"))
            (groups_table(ctx, t.group_by[3], &r.by_commune, "commune"))
            (targets_table(ctx, r))
            (outages_table(ctx, r))
            (expected_table(ctx, r))
            (timeline(ctx, r))
            (notes(ctx, r))
            section.definitions {
                h2 { (d.definitions) }
                ul { @for x in d.definitions_text { li { (x) } } }
                p.muted { (t.zone_note) }
            }
        }
    };
    let title = format!("{} — {}", d.report_title, r.drill.name);
    layout(ctx, &title, Nav::Drills, r.running, body)
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
    Ok(ctx.finish(render_list(&ctx, &list, Utc::now(), None)))
}

/// `GET /drills/{id}`.
async fn report_page(
    id: String,
    ctx: PageCtx,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let r = view::drills::report(&state, parse_id(&id)?).await?;
    Ok(ctx.finish(render_report(&ctx, &r, Utc::now(), None, None)))
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

// ----- forms -----------------------------------------------------------------------------

/// A refused drill form: the refusal page, back to the drill list.
fn refused(ctx: &PageCtx, e: FormAuthError) -> warp::reply::Response {
    form::refused(
        ctx,
        e,
        ctx.lang.d().login_to_control,
        "/drills",
        Nav::Drills,
    )
}

/// The report page again, with what went wrong (and the note form as typed).
async fn report_again(
    state: &AppState,
    ctx: &PageCtx,
    id: i64,
    retry: Option<&Retry<'_>>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<warp::reply::Response, warp::Rejection> {
    let r = view::drills::report(state, id).await?;
    let mut resp = ctx.finish(render_report(ctx, &r, Utc::now(), retry, error));
    *resp.status_mut() = status;
    Ok(resp)
}

fn drill_status(e: &DrillError) -> StatusCode {
    match e {
        DrillError::Invalid(_) | DrillError::EmptyScope => StatusCode::BAD_REQUEST,
        DrillError::Overlap(_) | DrillError::Ended(_) => StatusCode::CONFLICT,
        DrillError::NotFound(_) => StatusCode::NOT_FOUND,
        DrillError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Values of a comma- or line-separated field, trimmed, empty ones dropped.
fn list_field(f: &Query, key: &str) -> Vec<String> {
    f.get(key)
        .map(|v| {
            v.split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn text_field(f: &Query, key: &str) -> Option<String> {
    f.get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The start form as the API's request.
fn start_request(f: &Query) -> StartRequest {
    let mut scope = BTreeMap::new();
    for k in ["province", "commune", "operator", "service"] {
        let v = list_field(f, k);
        if !v.is_empty() {
            scope.insert(k.to_string(), OneOrMany::Many(v));
        }
    }
    StartRequest {
        name: f.get("name").cloned().unwrap_or_default(),
        scenario: f.get("scenario").cloned().unwrap_or_default(),
        scope,
        leaders: list_field(f, "leaders"),
        interval: text_field(f, "interval"),
        duration: text_field(f, "duration").unwrap_or_default(),
        baseline: text_field(f, "baseline"),
    }
}

/// A local (Asia/Ho_Chi_Minh) time as typed in a form: `YYYY-MM-DDTHH:MM[:SS]` (what a
/// `datetime-local` field sends, a space also works) or `HH:MM[:SS]` for today.
pub fn parse_local(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let naive = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        let time = ["%H:%M", "%H:%M:%S"]
            .iter()
            .find_map(|f| NaiveTime::parse_from_str(s, f).ok())?;
        Some(now.with_timezone(&Ho_Chi_Minh).date_naive().and_time(time))
    })?;
    Ho_Chi_Minh
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The note form as the API's request.
fn note_request(f: &Query, now: DateTime<Utc>) -> Result<NoteRequest, RequestError> {
    let time = |key: &'static str| -> Result<Option<DateTime<Utc>>, RequestError> {
        match text_field(f, key) {
            None => Ok(None),
            Some(v) => parse_local(&v, now).map(Some).ok_or(RequestError::Time {
                field: key,
                value: v,
            }),
        }
    };
    let targets = list_field(f, "expected");
    let until = time("until")?;
    if until.is_some() && targets.is_empty() {
        return Err(RequestError::UntilWithoutTargets);
    }
    Ok(NoteRequest {
        text: f.get("text").cloned().unwrap_or_default(),
        at: time("at")?,
        expected_down: (!targets.is_empty()).then_some(ExpectedDown { targets, until }),
    })
}

/// `POST /drills`: start a drill (admin).
async fn start_submit(
    ctx: PageCtx,
    form: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let caller = match form::caller(&ctx, &form, Role::Admin) {
        Ok(c) => c,
        Err(e) => return Ok(refused(&ctx, e)),
    };
    let outcome = match new_drill(start_request(&form)) {
        Ok(new) => service::start(&state, new, &caller.name, Utc::now())
            .await
            .map_err(|e| (drill_status(&e), ctx.lang.drill_error(&e))),
        Err(e) => Err((StatusCode::BAD_REQUEST, ctx.lang.request_error(&e))),
    };
    match outcome {
        Ok(d) => Ok(form::see_other(&format!("/drills/{}", d.id))),
        Err((status, error)) => {
            let list = list_drills(&state).await?;
            let retry = Retry {
                values: &form,
                error,
            };
            let mut r = ctx.finish(render_list(&ctx, &list, Utc::now(), Some(&retry)));
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

/// `POST /drills/{id}/stop` (admin).
async fn stop_submit(
    id: i64,
    ctx: PageCtx,
    form: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let caller = match form::caller(&ctx, &form, Role::Admin) {
        Ok(c) => c,
        Err(e) => return Ok(refused(&ctx, e)),
    };
    match service::stop(&state, id, Some(&caller.name), "stopped", Utc::now()).await {
        Ok(_) => Ok(form::see_other(&format!("/drills/{id}"))),
        Err(DrillError::NotFound(_)) => Err(not_found(&id.to_string())),
        Err(e) => {
            report_again(
                &state,
                &ctx,
                id,
                None,
                Some(&ctx.lang.drill_error(&e)),
                drill_status(&e),
            )
            .await
        }
    }
}

/// `POST /drills/{id}/notes` (officer).
async fn note_submit(
    id: i64,
    ctx: PageCtx,
    form: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let caller = match form::caller(&ctx, &form, Role::Officer) {
        Ok(c) => c,
        Err(e) => return Ok(refused(&ctx, e)),
    };
    let outcome = match note_request(&form, Utc::now()) {
        Ok(req) => service::add_note(&state, id, new_note(req, &caller.name))
            .await
            .map_err(|e| (drill_status(&e), ctx.lang.drill_error(&e))),
        Err(e) => Err((StatusCode::BAD_REQUEST, ctx.lang.request_error(&e))),
    };
    match outcome {
        Ok(_) => Ok(form::see_other(&format!("/drills/{id}#notes"))),
        Err((StatusCode::NOT_FOUND, _)) => Err(not_found(&id.to_string())),
        Err((status, error)) => {
            let retry = Retry {
                values: &form,
                error,
            };
            report_again(&state, &ctx, id, Some(&retry), None, status).await
        }
    }
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
        assert_eq!(r.duration, "2h");
        assert_eq!(r.interval, None);

        let now = Utc::now();
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

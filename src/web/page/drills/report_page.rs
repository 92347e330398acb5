//! The after-action report page (`/drills/{id}`): facts, summary, per-group and per-target
//! tables, outages with their alert deliveries, expected faults, the timeline and notes, and
//! the note form for a running drill.

use super::*;

/// A form to show again after an error, with the values as typed.
pub struct Retry<'a> {
    pub values: &'a Query,
    pub error: String,
}

pub(super) fn value<'a>(retry: Option<&'a Retry<'_>>, key: &str) -> &'a str {
    retry
        .and_then(|r| r.values.get(key))
        .map_or("", String::as_str)
}

/// The controls above the report: stop (admin, while running) and the note form (officer).
pub(super) fn controls(
    ctx: &PageCtx,
    r: &Report,
    retry: Option<&Retry<'_>>,
    error: Option<&str>,
) -> Markup {
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

pub(super) fn facts(ctx: &PageCtx, r: &Report, now: DateTime<Utc>) -> Markup {
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

pub(super) fn spread_text(lang: Lang, s: &crate::drill::report::Spread) -> String {
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

pub(super) fn summary(ctx: &PageCtx, r: &Report) -> Markup {
    let lang = ctx.lang;
    let d = lang.d();
    let s = &r.summary;
    let worst = |w: &Option<crate::drill::report::Worst>, placeholder: &str| match w {
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

pub(super) fn stats_cells(
    lang: Lang,
    drill: &Stats,
    baseline: &Stats,
    change: Option<f64>,
) -> Markup {
    html! {
        td.ub { (crate::web::page::chart::uptime_bar(lang, drill.availability)) }
        td.num { (pct(lang, baseline.availability)) }
        td.num { (lang.points(change)) }
        td.num { (lang.number(drill.downtime_seconds / 60.0, 1)) }
        td.num { (drill.outages) }
        td.num { (lang.number(drill.degraded_seconds / 60.0, 1)) }
    }
}

pub(super) fn groups_table(ctx: &PageCtx, title: &str, groups: &[GroupRow], link: &str) -> Markup {
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
                                    @let href = crate::web::page::href(&format!("/groups/{link}/{}", seg(&g.key)), g.province.iter().map(|p| ("province", p.as_str())));
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

pub(super) fn targets_table(ctx: &PageCtx, r: &Report) -> Markup {
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

pub(super) fn delivery_list(lang: Lang, o: &Outage) -> Markup {
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

pub(super) fn outages_table(ctx: &PageCtx, r: &Report) -> Markup {
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

pub(super) fn expected_table(ctx: &PageCtx, r: &Report) -> Markup {
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

pub(super) fn kind_icon(k: TimelineKind) -> &'static str {
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

pub(super) fn timeline(ctx: &PageCtx, r: &Report) -> Markup {
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

pub(super) fn notes(ctx: &PageCtx, r: &Report) -> Markup {
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

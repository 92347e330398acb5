//! The drill report as one CSV file a spreadsheet opens cleanly.
//!
//! Layout: UTF-8 with a byte-order mark (so spreadsheet programs read Vietnamese names
//! correctly), RFC 4180 quoting, CRLF line ends. The file holds sections one after another,
//! each a title row (`# Summary`, in the page's language), a header row of stable column names
//! (the JSON field names, the same in every language) and its rows, with a blank line between
//! sections: summary (field, value), groups (operator, service and commune in one table, told
//! apart by `group_by`), targets, outages, alert deliveries, injected faults, timeline.
//!
//! Numbers use a dot as decimal mark: availability in percent with three decimals, durations
//! in minutes with two or seconds with one, rounded from the same values the JSON carries.
//! Times are local (Asia/Ho_Chi_Minh, UTC+07), `YYYY-MM-DD HH:MM:SS`, which spreadsheets read
//! as dates. Text cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
//! `@`, tab or CR) get a leading apostrophe.

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;

use crate::drill::report::{GroupRow, Report, Stats};
use crate::web::page::i18n::Lang;

/// One CSV cell.
enum Cell {
    Text(String),
    /// Already formatted by us (numbers, times, codes): written as is, quoted only if needed.
    Raw(String),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn raw(s: impl Into<String>) -> Cell {
    Cell::Raw(s.into())
}

fn opt_text(s: &Option<String>) -> Cell {
    text(s.clone().unwrap_or_default())
}

fn num(v: f64, decimals: usize) -> Cell {
    raw(format!("{v:.decimals$}"))
}

fn opt_num(v: Option<f64>, decimals: usize) -> Cell {
    raw(v.map(|v| format!("{v:.decimals$}")).unwrap_or_default())
}

/// Percent of a ratio, three decimals; empty when there was no data.
fn percent(r: Option<f64>) -> Cell {
    opt_num(r.map(|r| r * 100.0), 3)
}

fn minutes(seconds: f64) -> Cell {
    num(seconds / 60.0, 2)
}

fn seconds(s: Option<f64>) -> Cell {
    opt_num(s, 1)
}

/// Local time as spreadsheets read it.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Ho_Chi_Minh)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn time(t: DateTime<Utc>) -> Cell {
    raw(local(t))
}

fn opt_time(t: Option<DateTime<Utc>>) -> Cell {
    raw(t.map(local).unwrap_or_default())
}

fn count(n: impl ToString) -> Cell {
    raw(n.to_string())
}

fn escape(out: &mut String, cell: &Cell) {
    let mut v = match cell {
        Cell::Text(s) => s.clone(),
        Cell::Raw(s) => s.clone(),
    };
    if let Cell::Text(s) = cell
        && s.starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&v);
    }
}

struct Csv(String);

impl Csv {
    fn row(&mut self, cells: &[Cell]) {
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            escape(&mut self.0, c);
        }
        self.0.push_str("\r\n");
    }

    fn header(&mut self, names: &[&str]) {
        let cells: Vec<Cell> = names.iter().map(|n| raw(*n)).collect();
        self.row(&cells);
    }

    fn section(&mut self, title: &str) {
        if !self.0.is_empty() && !self.0.ends_with("\u{feff}") {
            self.0.push_str("\r\n");
        }
        self.row(&[text(format!("# {title}"))]);
    }
}

/// The columns [`stats_cells`] writes, for groups and targets alike.
const STATS_COLUMNS: [&str; 9] = [
    "availability_percent",
    "baseline_availability_percent",
    "change_points",
    "downtime_minutes",
    "outages",
    "degraded_minutes",
    "degradations",
    "baseline_downtime_minutes",
    "baseline_outages",
];

fn stats_cells(drill: &Stats, baseline: &Stats, change: Option<f64>) -> Vec<Cell> {
    vec![
        percent(drill.availability),
        percent(baseline.availability),
        opt_num(change.map(|c| c * 100.0), 3),
        minutes(drill.downtime_seconds),
        count(drill.outages),
        minutes(drill.degraded_seconds),
        count(drill.degradations),
        minutes(baseline.downtime_seconds),
        count(baseline.outages),
    ]
}

fn group_row(csv: &mut Csv, by: &str, g: &GroupRow) {
    let mut cells = vec![
        raw(by),
        text(g.key.clone()),
        opt_text(&g.province),
        count(g.targets),
    ];
    cells.extend(stats_cells(&g.drill, &g.baseline, g.change));
    csv.row(&cells);
}

/// Renders the report; `lang` only chooses the section titles.
pub fn render(r: &Report, lang: Lang) -> String {
    let titles = &lang.d().csv_sections;
    let mut csv = Csv(String::from("\u{feff}"));
    // The sections' order is part of the file's layout (see the top of this file).
    let sections: [fn(&mut Csv, &str, &Report); 7] = [
        summary, groups, targets, outages, deliveries, faults, timeline,
    ];
    for (section, title) in sections.iter().zip(titles) {
        section(&mut csv, title, r);
    }
    csv.0
}

/// Summary: one `field,value` row per figure of the drill as a whole.
fn summary(csv: &mut Csv, title: &str, r: &Report) {
    csv.section(title);
    let s = &r.summary;
    let d = &r.drill;
    csv.header(&["field", "value"]);
    let scope = d
        .scope
        .iter()
        .map(|(k, v)| format!("{k}={}", v.join("|")))
        .collect::<Vec<_>>()
        .join("; ");
    let worst = |w: &Option<crate::drill::report::Worst>| match w {
        Some(w) => match &w.province {
            Some(p) => format!("{} ({p})", w.key),
            None => w.key.clone(),
        },
        None => String::new(),
    };
    let rows: Vec<(&str, Cell)> = vec![
        ("drill_id", count(d.id)),
        ("name", text(d.name.clone())),
        ("scenario", text(d.scenario.clone())),
        ("scope", text(scope)),
        ("leaders", text(d.leaders.join("; "))),
        ("time_zone", raw("Asia/Ho_Chi_Minh (UTC+07)")),
        ("started_at", time(r.window.from)),
        ("ended_at", opt_time(d.ended_at)),
        ("running", raw(r.running.to_string())),
        ("duration_minutes", minutes(s.duration_seconds)),
        ("baseline_from", time(r.baseline_window.from)),
        ("targets", count(s.targets)),
        ("targets_with_data", count(s.targets_with_data)),
        ("targets_with_outages", count(s.targets_with_outages)),
        ("availability_percent", percent(s.drill.availability)),
        (
            "baseline_availability_percent",
            percent(s.baseline.availability),
        ),
        ("change_points", opt_num(s.change.map(|c| c * 100.0), 3)),
        ("downtime_minutes", minutes(s.drill.downtime_seconds)),
        ("outages", count(s.drill.outages)),
        ("worst_operator", text(worst(&s.worst_operator))),
        (
            "worst_operator_availability_percent",
            percent(s.worst_operator.as_ref().and_then(|w| w.availability)),
        ),
        ("worst_commune", text(worst(&s.worst_commune))),
        (
            "worst_commune_availability_percent",
            percent(s.worst_commune.as_ref().and_then(|w| w.availability)),
        ),
        (
            "detection_median_seconds",
            seconds(s.detection.median_seconds),
        ),
        ("detection_max_seconds", seconds(s.detection.max_seconds)),
        (
            "alert_delivery_median_seconds",
            seconds(s.alert_delivery.median_seconds),
        ),
        (
            "alert_delivery_max_seconds",
            seconds(s.alert_delivery.max_seconds),
        ),
        (
            "acknowledgement_median_seconds",
            seconds(s.acknowledgement.median_seconds),
        ),
        (
            "restoration_median_seconds",
            seconds(s.restoration.median_seconds),
        ),
        (
            "restoration_max_seconds",
            seconds(s.restoration.max_seconds),
        ),
        ("expected_faults", count(s.expected_faults)),
        ("expected_detected", count(s.expected_detected)),
        ("generated_at", time(r.generated_at)),
    ];
    for (k, v) in rows {
        csv.row(&[raw(k), v]);
    }
}

/// Groups: operators, services and communes in one table, told apart by `group_by`.
fn groups(csv: &mut Csv, title: &str, r: &Report) {
    csv.section(title);
    csv.header(
        &[
            &["group_by", "key", "province", "targets"][..],
            &STATS_COLUMNS,
        ]
        .concat(),
    );
    for (by, groups) in [
        ("operator", &r.by_operator),
        ("service", &r.by_service),
        ("commune", &r.by_commune),
    ] {
        for g in groups {
            group_row(csv, by, g);
        }
    }
}

/// Targets: every target's figures, with its samples and probing interval.
fn targets(csv: &mut Csv, title: &str, r: &Report) {
    csv.section(title);
    csv.header(
        &[
            &[
                "target", "name", "operator", "service", "province", "commune",
            ][..],
            &STATS_COLUMNS,
            &["samples", "samples_ok", "interval_seconds"],
        ]
        .concat(),
    );
    for t in &r.targets {
        let mut cells = vec![
            text(t.id.clone()),
            text(t.name.clone()),
            text(t.operator.clone()),
            text(t.service.clone()),
            text(t.province.clone()),
            text(t.commune.clone()),
        ];
        let change = t
            .drill
            .availability
            .zip(t.baseline.availability)
            .map(|(a, b)| a - b);
        cells.extend(stats_cells(&t.drill, &t.baseline, change));
        cells.extend([
            count(t.drill.samples),
            count(t.drill.samples_ok),
            num(t.interval_seconds, 1),
        ]);
        csv.row(&cells);
    }
}

/// Outages: one row per incident, from its start to its acknowledgement.
fn outages(csv: &mut Csv, title: &str, r: &Report) {
    csv.section(title);
    csv.header(&[
        "incident_id",
        "target",
        "name",
        "operator",
        "commune",
        "first_state",
        "worst_state",
        "counts_as_downtime",
        "started_at",
        "detected_at",
        "detection_seconds",
        "ended_at",
        "restoration_seconds",
        "in_drill_minutes",
        "first_alert_seconds",
        "acknowledged_at",
        "acknowledged_by",
        "ack_seconds",
        "explained_by",
        "drill_tagged",
        "cause",
    ]);
    for o in &r.outages {
        let first_alert = o
            .deliveries
            .iter()
            .filter_map(|d| d.since_start_seconds)
            .min_by(f64::total_cmp);
        csv.row(&[
            count(o.incident_id),
            text(o.target.clone()),
            text(o.name.clone()),
            text(o.operator.clone()),
            text(o.commune.clone()),
            raw(o.first_state.as_str()),
            raw(o.worst_state.as_str()),
            raw(o.counts_as_downtime.to_string()),
            time(o.started_at),
            time(o.detected_at),
            seconds(Some(o.detection_seconds)),
            opt_time(o.ended_at),
            seconds(o.restoration_seconds),
            minutes(o.in_window_seconds),
            seconds(first_alert),
            opt_time(o.acknowledged_at),
            opt_text(&o.acknowledged_by),
            seconds(o.ack_seconds),
            opt_text(&o.explained_by),
            raw(o.drill_tagged.to_string()),
            opt_text(&o.cause),
        ]);
    }
}

/// Alert deliveries: every message sent about an outage, by receiver.
fn deliveries(csv: &mut Csv, title: &str, r: &Report) {
    csv.section(title);
    csv.header(&[
        "incident_id",
        "target",
        "receiver",
        "status",
        "via",
        "created_at",
        "delivered_at",
        "since_start_seconds",
        "since_detection_seconds",
        "attempts",
        "resolved_delivered_at",
    ]);
    for o in &r.outages {
        for d in &o.deliveries {
            csv.row(&[
                count(o.incident_id),
                text(o.target.clone()),
                text(d.receiver.clone()),
                raw(d.status.clone()),
                opt_text(&d.via),
                time(d.created_at),
                opt_time(d.delivered_at),
                seconds(d.since_start_seconds),
                seconds(d.since_detection_seconds),
                count(d.attempts),
                opt_time(d.resolved_delivered_at),
            ]);
        }
    }
}

/// Injected faults: what the notes said would fail, and whether it was detected.
fn faults(csv: &mut Csv, title: &str, r: &Report) {
    csv.section(title);
    csv.header(&[
        "note_id",
        "note_at",
        "author",
        "target",
        "name",
        "expected_until",
        "detected",
        "incident_id",
        "detected_at",
        "detection_seconds",
        "ended_at",
    ]);
    for e in &r.expected_faults {
        csv.row(&[
            count(e.note_id),
            time(e.note_at),
            text(e.author.clone()),
            text(e.target.clone()),
            text(e.name.clone()),
            opt_time(e.expected_until),
            raw(e.detected.to_string()),
            raw(e.incident_id.map(|i| i.to_string()).unwrap_or_default()),
            opt_time(e.detected_at),
            seconds(e.detection_seconds),
            opt_time(e.ended_at),
        ]);
    }
}

/// Timeline: state changes, alerts and notes, in order.
fn timeline(csv: &mut Csv, title: &str, r: &Report) {
    csv.section(title);
    csv.header(&[
        "at", "kind", "target", "name", "state", "receiver", "author", "text",
    ]);
    for e in &r.timeline {
        csv.row(&[
            time(e.at),
            raw(e.kind.as_str()),
            opt_text(&e.target),
            opt_text(&e.name),
            raw(e.state.map(|s| s.as_str()).unwrap_or_default()),
            opt_text(&e.receiver),
            opt_text(&e.author),
            opt_text(&e.text),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(c: Cell) -> String {
        let mut s = String::new();
        escape(&mut s, &c);
        s
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(one(text("Kỳ Anh")), "Kỳ Anh");
        assert_eq!(one(text("a,b")), "\"a,b\"");
        assert_eq!(one(text("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(one(text("two\nlines")), "\"two\nlines\"");
        assert_eq!(one(text("=HYPERLINK(\"x\")")), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(one(text("@SUM(A1)")), "'@SUM(A1)");
        assert_eq!(one(text("-1+2")), "'-1+2");
        // Numbers we format are never touched.
        assert_eq!(one(num(-1.25, 2)), "-1.25");
        assert_eq!(one(percent(Some(0.75))), "75.000");
        assert_eq!(one(percent(None)), "");
    }

    #[test]
    fn local_times_read_as_spreadsheet_dates() {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, 7, 10, 5)
            .single()
            .unwrap();
        assert_eq!(local(t), "2026-11-20 14:10:05");
    }
}

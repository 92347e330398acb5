//! The server-rendered status page: communes as rows, operators as columns, each cell the state
//! of that operator's targets in that commune. maud escapes every value by default.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use maud::{DOCTYPE, Markup, html};

use crate::app::AppState;
use crate::state::State;
use crate::status::TargetStatus;
use crate::time;

/// Vietnamese state labels; every state also has an icon so it is never told by colour alone.
pub fn state_label_vi(s: State) -> &'static str {
    match s {
        State::Up => "Hoạt động",
        State::Degraded => "Suy giảm",
        State::Down => "Mất liên lạc",
        State::Unreachable => "Không tới được",
        State::Unknown => "Chưa rõ",
        State::Maintenance => "Bảo trì",
    }
}

pub fn state_icon(s: State) -> &'static str {
    match s {
        State::Up => "✔",
        State::Degraded => "◐",
        State::Down => "✖",
        State::Unreachable => "⤫",
        State::Unknown => "?",
        State::Maintenance => "⚒",
    }
}

const NO_COMMUNE: &str = "(chưa gán xã)";
const NO_OPERATOR: &str = "(khác)";

/// Renders the overview.
pub fn overview(state: &AppState) -> Markup {
    let rows = state.board.snapshot();
    let now = Utc::now();

    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.state.state).or_default() += 1;
    }
    // province -> commune -> operator -> targets
    let mut grid: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, Vec<&TargetStatus>>>> =
        BTreeMap::new();
    let mut operators: BTreeSet<&str> = BTreeSet::new();
    for r in &rows {
        let l = &r.target.labels;
        let op = if l.operator.is_empty() {
            NO_OPERATOR
        } else {
            l.operator.as_str()
        };
        let commune = if l.commune.is_empty() {
            NO_COMMUNE
        } else {
            l.commune.as_str()
        };
        operators.insert(op);
        grid.entry(l.province.as_str())
            .or_default()
            .entry(commune)
            .or_default()
            .entry(op)
            .or_default()
            .push(r);
    }

    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Without JavaScript the page still stays current.
                meta http-equiv="refresh" content="30";
                title { "commwatch — Trạng thái liên lạc" }
                link rel="stylesheet" href="/assets/commwatch.css";
            }
            body {
                header {
                    h1 { "Trạng thái liên lạc" }
                    ul.summary aria-label="Tổng hợp" {
                        @for s in State::ALL {
                            @let n = counts.get(&s).copied().unwrap_or(0);
                            li class={ "s-" (s.as_str()) } {
                                (state_icon(s)) " " (state_label_vi(s)) ": " strong { (n) }
                            }
                        }
                    }
                    p.muted {
                        (rows.len()) " mục tiêu · cập nhật lúc " (time::local_datetime(now))
                        " · múi giờ " (time::ZONE_NAME)
                    }
                }
                main {
                    @if rows.is_empty() {
                        p { "Chưa cấu hình mục tiêu nào." }
                    }
                    @for (province, communes) in &grid {
                        h2 { @if province.is_empty() { "(chưa gán tỉnh)" } @else { (province) } }
                        div.wrap {
                            table {
                                thead {
                                    tr {
                                        th scope="col" { "Xã / phường" }
                                        @for op in &operators { th scope="col" { (op) } }
                                    }
                                }
                                tbody {
                                    @for (commune, by_op) in communes {
                                        tr {
                                            th scope="row" { (commune) }
                                            @for op in &operators {
                                                td {
                                                    @if let Some(ts) = by_op.get(op) {
                                                        @for t in ts { (cell(t, now)) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                footer.muted {
                    "commwatch " (env!("CARGO_PKG_VERSION")) " · "
                    a href="/api/v1/targets" { "API" } " · " a href="/metrics" { "metrics" }
                }
            }
        }
    }
}

fn cell(t: &TargetStatus, now: chrono::DateTime<Utc>) -> Markup {
    let s = t.state.state;
    let service = if t.target.labels.service.is_empty() {
        t.target.kind()
    } else {
        t.target.labels.service.as_str()
    };
    html! {
        span class={ "cell s-" (s.as_str()) } data-target=(t.target.id) title=(t.target.name) {
            (state_icon(s)) " " (service) ": " (state_label_vi(s))
            br;
            span.muted {
                @if let Some(last) = &t.last {
                    "kiểm tra " time datetime=(time::local_rfc3339(last.at)) { (time::local_time(last.at)) }
                    @if let Some(d) = &last.detail { " · " (d) }
                } @else {
                    "chưa kiểm tra"
                }
                " · từ " (time::ago_vi(t.state.since, now))
            }
        }
    }
}

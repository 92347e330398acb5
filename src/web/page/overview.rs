//! The overview page: summary line, active drills and open incidents on top, then the grid of
//! communes × operators (or services), filterable with plain query parameters.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::incidents::incident_item;
use super::{Nav, PageCtx, ago, href, layout, or, pager, seg};
use crate::shared::AppState;
use crate::state::State;
use crate::time;
use crate::web::page::i18n::{Lang, icon};
use crate::web::view::overview::{CellTarget, Cols, Overview, Sort};
use crate::web::view::top::{Top, load};

/// `GET /`.
pub async fn page(ctx: PageCtx, state: AppState) -> Result<warp::reply::Response, warp::Rejection> {
    let (ov, top) = load(&state, &ctx.query)
        .await
        .map_err(|e| super::form::page_error(&ctx, e, Nav::Overview))?;
    Ok(ctx.finish(render(&ctx, &ov, &top)))
}

/// `GET /fragments/top`: the part above the grid, which the live script swaps in after events
/// that change counts or incidents.
pub async fn fragment(
    ctx: PageCtx,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let (ov, top) = load(&state, &ctx.query)
        .await
        .map_err(|e| super::form::page_error(&ctx, e, Nav::Overview))?;
    Ok(ctx.respond(top_section(&ctx, &ov, &top, crate::time::now_ms()).into_string()))
}

pub fn render(ctx: &PageCtx, ov: &Overview, top: &Top) -> Markup {
    let t = ctx.lang.t();
    let now = ov.generated_at;
    let title = match &ov.filter.province {
        Some(p) => format!("{p} — {}", t.app_title),
        None => t.app_title.to_string(),
    };
    let pairs = ov.filter.pairs();
    let page_no = ov.filter.page.to_string();
    let page = (ov.filter.page > 1).then_some(("page", page_no.as_str()));
    let body = html! {
        section #top data-src=(href("/fragments/top", pairs.iter().map(|(k, v)| (*k, v.as_str()))))
            data-resync=(href("/api/v1/overview", pairs.iter().map(|(k, v)| (*k, v.as_str())).chain(page))) {
            (top_section(ctx, ov, top, now))
        }
        @if ov.provinces.len() > 1 { (provinces(ctx, ov)) }
        (filters(ctx, ov))
        (grid(ctx, ov, now))
    };
    layout(ctx, &title, Nav::Overview, true, body)
}

/// Summary line, isolation warning, drills, open incidents.
pub fn top_section(ctx: &PageCtx, ov: &Overview, top: &Top, now: DateTime<Utc>) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let s = &ov.summary;
    html! {
        @if top.monitor_isolated {
            p.banner role="alert" { "⚠ " (t.isolated) }
        }
        @if !top.drills.is_empty() {
            section.drills {
                h2 { (t.drills_title) }
                ul {
                    @for d in &top.drills {
                        li { a href={ "/drills/" (seg(&d.id)) } { bdi { (d.name) } } " · " (super::at(lang, d.started_at, now)) }
                    }
                }
            }
        }
        h1 {
            @if let Some(p) = &ov.filter.province { bdi { (p) } " — " }
            (t.app_title)
        }
        ul.summary aria-label=(t.summary) {
            @for st in State::ALL {
                @let n = s.states.get(st);
                @if n > 0 || matches!(st, State::Up | State::Down) {
                    li class={ "st s-" (st.as_str()) } data-count=(st.as_str()) {
                        span.ic aria-hidden="true" { (icon(st)) } " " (lang.state(st)) ": " strong { (n) }
                    }
                }
            }
            li.dark {
                strong { (s.communes_dark) } "/" (s.communes) " " (t.communes_dark)
            }
        }
        p.muted {
            (s.targets) " " (t.targets_word) " · " (t.updated_at) " "
            time datetime=(time::local_rfc3339(now)) { (time::local_datetime(now)) }
        }
        section.incidents aria-labelledby="inc-h" {
            h2 #inc-h { (t.incidents_open) " (" (s.incidents_open) ")" }
            @if top.incidents.is_empty() {
                p.muted { (t.no_open_incidents) }
            } @else {
                ul.inc {
                    @for i in &top.incidents { li { (incident_item(lang, i, now)) } }
                }
                @if s.incidents_open > top.incidents.len() {
                    p { a href="/incidents?status=open" { (t.see_all) " (" (s.incidents_open) ") ›" } }
                }
            }
        }
    }
}

/// The collapsed national view: one line per province, worst first.
fn provinces(ctx: &PageCtx, ov: &Overview) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    html! {
        details.provinces open[ov.filter.province.is_none()] {
            summary { (t.by_province) " (" (ov.provinces.len()) ")" }
            div.wrap {
                table {
                    thead {
                        tr {
                            th scope="col" { (t.province) }
                            th scope="col" { (t.targets_word) }
                            th scope="col" { (icon(State::Down)) " " (lang.state(State::Down)) }
                            th scope="col" { (icon(State::Degraded)) " " (lang.state(State::Degraded)) }
                            th scope="col" { (t.communes_dark) }
                        }
                    }
                    tbody {
                        @for p in &ov.provinces {
                            tr {
                                th scope="row" {
                                    a href=(href("/", [("province", p.province.as_str())])) { bdi { (or(&p.province, t.no_province)) } }
                                }
                                td { (p.summary.targets) }
                                td { (p.summary.states.get(State::Down) + p.summary.states.get(State::Unreachable)) }
                                td { (p.summary.states.get(State::Degraded)) }
                                td { (p.summary.communes_dark) "/" (p.summary.communes) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn select(
    name: &str,
    label: &str,
    all: &str,
    current: Option<&str>,
    options: &[(String, String)],
) -> Markup {
    html! {
        label {
            span { (label) }
            select name=(name) {
                option value="" { (all) }
                @for (value, text) in options {
                    option value=(value) selected[current == Some(value.as_str())] { (text) }
                }
            }
        }
    }
}

/// The filter form: a plain GET form, so it works without JavaScript.
fn filters(ctx: &PageCtx, ov: &Overview) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let f = &ov.filter;
    let labelled = |v: &[String]| -> Vec<(String, String)> {
        v.iter()
            .map(|x| (x.clone(), or(x, t.other).to_string()))
            .collect()
    };
    let provinces: Vec<(String, String)> = {
        let mut p: Vec<String> = ov.provinces.iter().map(|p| p.province.clone()).collect();
        p.sort();
        labelled(&p)
    };
    let mut states = vec![("problem".to_string(), t.problems.to_string())];
    states.extend(State::ALL.iter().map(|s| {
        (
            s.as_str().to_string(),
            format!("{} {}", icon(*s), lang.state(*s)),
        )
    }));
    html! {
        form.filters method="get" action="/" role="search" aria-label=(t.filters) {
            @if ov.provinces.len() > 1 {
                (select("province", t.province, t.all, f.province.as_deref(), &provinces))
            }
            (select("operator", t.operator, t.all, f.operator.as_deref(), &labelled(&ov.operators)))
            (select("service", t.service, t.all, f.service.as_deref(), &labelled(&ov.services)))
            (select("state", t.state, t.all, f.state.map(|s| s.as_str()), &states))
            label.q {
                span { (t.search_commune) }
                input type="search" name="q" value=[f.q.as_deref()] placeholder=(t.search_hint) autocomplete="off";
            }
            label {
                span { (t.sort) }
                select name="sort" {
                    option value="worst" selected[f.sort == Sort::Worst] { (t.sort_worst) }
                    option value="name" selected[f.sort == Sort::Name] { (t.sort_name) }
                }
            }
            label {
                span { (t.columns) }
                select name="cols" {
                    option value="operator" selected[f.cols == Cols::Operator] { (t.operator) }
                    option value="service" selected[f.cols == Cols::Service] { (t.service) }
                }
            }
            div.actions {
                button type="submit" { (t.apply) }
                " " a href="/" { (t.reset) }
            }
        }
    }
}

fn grid(ctx: &PageCtx, ov: &Overview, now: DateTime<Utc>) -> Markup {
    let lang = ctx.lang;
    let t = lang.t();
    let f = &ov.filter;
    let show_province = f.province.is_none() && ov.provinces.len() > 1;
    let first = (f.page - 1) * f.per_page + 1;
    let last = first + ov.communes.len().saturating_sub(1);
    let col_group = match f.cols {
        Cols::Operator => "operator",
        Cols::Service => "service",
    };
    html! {
        @if ov.summary.targets == 0 {
            p { (t.no_targets) }
        } @else if ov.communes.is_empty() {
            p { (t.no_match) }
        } @else {
            p.muted {
                (t.showing) " " (first) "–" (last) " " (t.of) " " (ov.matching_communes) " " (t.communes_word)
            }
            div.wrap {
                table.grid {
                    thead {
                        tr {
                            th scope="col" { (t.commune_col) }
                            @for c in &ov.columns {
                                th scope="col" {
                                    a href={ "/groups/" (col_group) "/" (seg(c)) } { bdi { (or(c, t.other)) } }
                                }
                            }
                        }
                    }
                    tbody {
                        @for row in &ov.communes {
                            tr class=[row.dark.then_some("dark")] {
                                th scope="row" {
                                    a href=(href(&format!("/groups/commune/{}", seg(&row.commune)), [("province", row.province.as_str())])) {
                                        bdi { (or(&row.commune, t.no_commune)) }
                                    }
                                    @if show_province { " " span.prov { bdi { (or(&row.province, t.no_province)) } } }
                                    @if row.dark { " " span.tag { (icon(State::Down)) " " (t.dark_badge) } }
                                }
                                @for cell in &row.cells {
                                    td data-col=(or(&cell.column, t.other)) {
                                        @for x in &cell.targets { (cell_target(lang, x, f.cols, now)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (pager(ctx, f.page, ov.pages))
        }
    }
}

/// One target in a cell: symbol, state word, what it is, and how long it has been so.
fn cell_target(lang: Lang, x: &CellTarget, cols: Cols, now: DateTime<Utc>) -> Markup {
    let t = lang.t();
    // The column already says the operator (or service); the cell says the other one.
    let what = match cols {
        Cols::Operator => or(&x.service, x.kind),
        Cols::Service => or(&x.operator, t.other),
    };
    let mut title = x.name.clone();
    if let Some(d) = &x.detail {
        title.push_str(" — ");
        title.push_str(d);
    }
    if let Some(p) = &x.explained_by {
        title.push_str(&format!(" ({} {p})", t.explained_by));
    }
    html! {
        a class={ "c s-" (x.state.as_str()) } href={ "/targets/" (seg(&x.id)) } data-target=(x.id) title=(title) {
            span.ic aria-hidden="true" { (icon(x.state)) } " "
            span.lb { (lang.state(x.state)) }
            @if x.flapping { " " span.flap title=(t.flapping) { "≈" } }
            span.l2 { span.sv { bdi { (what) } } " · " (ago(lang, x.since, now)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::view::overview::{self, Filter};
    use crate::web::view::top::DrillBanner;

    fn top_html(drills: Vec<DrillBanner>) -> String {
        let ctx = PageCtx::plain(Lang::Vi, "/", Default::default());
        let ov = overview::build(
            &[],
            Filter::parse(&Default::default()).unwrap(),
            crate::time::now_ms(),
        );
        let top = Top {
            monitor_isolated: true,
            drills,
            incidents: Vec::new(),
        };
        top_section(&ctx, &ov, &top, crate::time::now_ms()).into_string()
    }

    #[test]
    fn drills_section_shows_only_when_drills_run() {
        assert!(!top_html(Vec::new()).contains("Diễn tập đang chạy"));
        let html = top_html(vec![DrillBanner {
            id: "d 1".into(),
            name: "Bão <số 3>".into(),
            started_at: crate::time::now_ms(),
            planned_end: crate::time::now_ms() + chrono::Duration::hours(2),
        }]);
        assert!(html.contains("Diễn tập đang chạy"));
        assert!(html.contains("href=\"/drills/d%201\""), "{html}");
        assert!(html.contains("Bão &lt;số 3&gt;"));
        assert!(html.contains("role=\"alert\""), "isolation banner missing");
        assert!(html.contains("Không có sự cố đang mở."));
    }
}

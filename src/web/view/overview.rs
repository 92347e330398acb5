//! The overview model: the live board grouped into communes (rows) by operator or service
//! (columns), filtered, searched, sorted worst first and paginated. The HTML page and
//! `/api/v1/overview` are both drawn from it, so they always agree. The query parameters are
//! in `filter`; this file builds the model from the board.

mod filter;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::state::State;
use crate::status::TargetStatus;
use crate::web::view::fold::{contains_folded, fold};

pub use filter::{Cols, DEFAULT_PER_PAGE, Filter, MAX_PER_PAGE, Sort, StateFilter};

/// Counts per state, every state present (zero when none).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StateCounts(pub BTreeMap<&'static str, usize>);

impl Default for StateCounts {
    fn default() -> Self {
        StateCounts(State::ALL.iter().map(|s| (s.as_str(), 0)).collect())
    }
}

impl StateCounts {
    fn add(&mut self, s: State) {
        *self.0.entry(s.as_str()).or_default() += 1;
    }

    pub fn get(&self, s: State) -> usize {
        self.0.get(s.as_str()).copied().unwrap_or(0)
    }
}

/// The province summary line (or the whole inventory's when no province is chosen).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub targets: usize,
    pub states: StateCounts,
    /// Communes with at least one target.
    pub communes: usize,
    /// Communes where every target is down or unreachable.
    pub communes_dark: usize,
    pub incidents_open: usize,
    pub flapping: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProvinceSummary {
    pub province: String,
    #[serde(flatten)]
    pub summary: Summary,
}

/// One target inside a grid cell.
#[derive(Debug, Clone, Serialize)]
pub struct CellTarget {
    pub id: String,
    pub name: String,
    pub operator: String,
    pub service: String,
    pub kind: &'static str,
    pub state: State,
    pub since: DateTime<Utc>,
    pub flapping: bool,
    pub explained_by: Option<String>,
    pub last_at: Option<DateTime<Utc>>,
    /// Error detail or failing checks in resolved form.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub column: String,
    pub targets: Vec<CellTarget>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommuneRow {
    pub province: String,
    pub commune: String,
    /// The worst state among the shown targets.
    pub worst: State,
    /// Every target of the commune is down or unreachable.
    pub dark: bool,
    /// Shown targets that are down, unreachable or degraded.
    pub problems: usize,
    /// Cells in column order.
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub generated_at: DateTime<Utc>,
    pub filter: Filter,
    pub summary: Summary,
    /// Every province, worst first (the collapsed view of a national inventory).
    pub provinces: Vec<ProvinceSummary>,
    /// Operators and services present in the chosen province, for the filter menus.
    pub operators: Vec<String>,
    pub services: Vec<String>,
    pub columns: Vec<String>,
    /// Communes matching the filters, across all pages.
    pub matching_communes: usize,
    pub pages: usize,
    pub communes: Vec<CommuneRow>,
}

#[derive(Default)]
struct CommuneAgg {
    targets: usize,
    down: usize,
}

impl CommuneAgg {
    fn dark(&self) -> bool {
        self.targets > 0 && self.down == self.targets
    }
}

fn is_down(s: State) -> bool {
    matches!(s, State::Down | State::Unreachable)
}

fn summarise<'a>(
    rows: impl Iterator<Item = &'a TargetStatus>,
    communes: &HashMap<(&str, &str), CommuneAgg>,
    province: Option<&str>,
) -> Summary {
    let mut s = Summary::default();
    for r in rows {
        s.targets += 1;
        s.states.add(r.state.state);
        s.incidents_open += usize::from(r.state.incident_open);
        s.flapping += usize::from(r.state.flapping);
    }
    for ((p, _), agg) in communes {
        if province.is_none_or(|want| want == *p) {
            s.communes += 1;
            s.communes_dark += usize::from(agg.dark());
        }
    }
    s
}

fn cell_target(r: &TargetStatus) -> CellTarget {
    let t = &r.target;
    CellTarget {
        id: t.id.clone(),
        name: t.name.clone(),
        operator: t.labels.operator.clone(),
        service: t.labels.service.clone(),
        kind: t.kind(),
        state: r.state.state,
        since: r.state.since,
        flapping: r.state.flapping,
        explained_by: r.state.explained_by.clone(),
        last_at: r.last.as_ref().map(|l| l.at),
        detail: r
            .last
            .as_ref()
            .filter(|l| !l.ok)
            .and_then(|l| l.detail.clone().or_else(|| l.error.clone())),
    }
}

/// Builds the overview of `rows` (the board) under `filter`.
pub fn build(rows: &[TargetStatus], filter: Filter, now: DateTime<Utc>) -> Overview {
    // Darkness is judged over the whole inventory, whatever the filter shows of a commune.
    let communes = commune_darkness(rows);
    let provinces = province_summaries(rows, &communes);
    let province = filter.province.as_deref();
    let summary = summarise(
        rows.iter().filter(|r| in_province(r, province)),
        &communes,
        province,
    );
    let (operators, services) = menus(rows, province);
    let shown = group_shown(rows, &filter);
    let mut ranked = rank(shown.grouped, shown.folded, &communes);
    sort(&mut ranked, filter.sort);
    let matching = ranked.len();
    let pages = matching.div_ceil(filter.per_page).max(1);
    let start = (filter.page - 1).saturating_mul(filter.per_page);
    let communes_out: Vec<CommuneRow> = ranked
        .into_iter()
        .skip(start)
        .take(filter.per_page)
        .map(|r| commune_row(r, &shown.columns, filter.cols))
        .collect();

    Overview {
        generated_at: now,
        filter,
        summary,
        provinces,
        operators,
        services,
        columns: shown.columns,
        matching_communes: matching,
        pages,
        communes: communes_out,
    }
}

fn in_province(r: &TargetStatus, province: Option<&str>) -> bool {
    province.is_none_or(|p| r.target.labels.province == p)
}

/// Per commune, over the whole inventory: how many targets it has and how many are down.
fn commune_darkness(rows: &[TargetStatus]) -> HashMap<(&str, &str), CommuneAgg> {
    let mut communes: HashMap<(&str, &str), CommuneAgg> = HashMap::new();
    for r in rows {
        let l = &r.target.labels;
        if l.commune.is_empty() {
            continue;
        }
        let agg = communes
            .entry((l.province.as_str(), l.commune.as_str()))
            .or_default();
        agg.targets += 1;
        agg.down += usize::from(is_down(r.state.state));
    }
    communes
}

/// Every province's summary, worst first: dark communes, then down targets, then degraded.
fn province_summaries(
    rows: &[TargetStatus],
    communes: &HashMap<(&str, &str), CommuneAgg>,
) -> Vec<ProvinceSummary> {
    let mut by_province: BTreeMap<&str, Vec<&TargetStatus>> = BTreeMap::new();
    for r in rows {
        by_province
            .entry(r.target.labels.province.as_str())
            .or_default()
            .push(r);
    }
    let mut provinces: Vec<ProvinceSummary> = by_province
        .iter()
        .map(|(p, rs)| ProvinceSummary {
            province: p.to_string(),
            summary: summarise(rs.iter().copied(), communes, Some(p)),
        })
        .collect();
    provinces.sort_by_key(|p| {
        (
            Reverse(p.summary.communes_dark),
            Reverse(p.summary.states.get(State::Down) + p.summary.states.get(State::Unreachable)),
            Reverse(p.summary.states.get(State::Degraded)),
            fold(&p.province),
        )
    });
    provinces
}

/// The operators and services of the chosen province, for the filter menus: taken before the
/// other filters, so choosing one operator still offers the others.
fn menus(rows: &[TargetStatus], province: Option<&str>) -> (Vec<String>, Vec<String>) {
    let mut operators = BTreeSet::new();
    let mut services = BTreeSet::new();
    for r in rows.iter().filter(|r| in_province(r, province)) {
        operators.insert(r.target.labels.operator.clone());
        services.insert(r.target.labels.service.clone());
    }
    (
        operators.into_iter().collect(),
        services.into_iter().collect(),
    )
}

/// The targets that pass every filter and the search, by commune.
struct Shown<'a> {
    /// (province, commune) → shown targets.
    grouped: HashMap<(&'a str, &'a str), Vec<&'a TargetStatus>>,
    /// The grid's columns, sorted: only those some shown target has.
    columns: Vec<String>,
    /// The folded "commune province" of every commune the search looked at.
    folded: HashMap<(&'a str, &'a str), String>,
}

fn group_shown<'a>(rows: &'a [TargetStatus], filter: &Filter) -> Shown<'a> {
    let province = filter.province.as_deref();
    let needle = filter.q.as_deref().map(fold);
    let shown = rows
        .iter()
        .filter(|r| in_province(r, province))
        .filter(|r| {
            let l = &r.target.labels;
            filter.operator.as_ref().is_none_or(|o| &l.operator == o)
                && filter.service.as_ref().is_none_or(|s| &l.service == s)
                && filter.state.is_none_or(|s| s.matches(r.state.state))
        });
    // The folded names are computed once per commune, not once per target.
    let mut grouped: HashMap<(&str, &str), Vec<&TargetStatus>> = HashMap::new();
    let mut columns = BTreeSet::new();
    let mut folded: HashMap<(&str, &str), String> = HashMap::new();
    for r in shown {
        let l = &r.target.labels;
        let key = (l.province.as_str(), l.commune.as_str());
        if let Some(n) = &needle {
            let f = folded
                .entry(key)
                .or_insert_with(|| fold(&format!("{} {}", l.commune, l.province)));
            if !contains_folded(f, n) {
                continue;
            }
        }
        columns.insert(filter.cols.label(l).to_string());
        grouped.entry(key).or_default().push(r);
    }
    Shown {
        grouped,
        columns: columns.into_iter().collect(),
        folded,
    }
}

/// One shown commune with what it is sorted by.
struct Ranked<'a> {
    key: (&'a str, &'a str),
    targets: Vec<&'a TargetStatus>,
    worst: State,
    problems: usize,
    dark: bool,
    /// The folded name, the last sort key.
    name_key: String,
}

fn rank<'a>(
    grouped: HashMap<(&'a str, &'a str), Vec<&'a TargetStatus>>,
    mut folded: HashMap<(&'a str, &'a str), String>,
    communes: &HashMap<(&str, &str), CommuneAgg>,
) -> Vec<Ranked<'a>> {
    grouped
        .into_iter()
        .map(|((p, c), ts)| {
            let worst = ts
                .iter()
                .map(|r| r.state.state)
                .min_by_key(|s| s.severity())
                .unwrap_or(State::Unknown);
            let problems = ts.iter().filter(|r| r.state.state.is_problem()).count();
            let dark = communes.get(&(p, c)).is_some_and(CommuneAgg::dark);
            let name_key = folded
                .remove(&(p, c))
                .unwrap_or_else(|| fold(&format!("{c} {p}")));
            Ranked {
                key: (p, c),
                targets: ts,
                worst,
                problems,
                dark,
                name_key,
            }
        })
        .collect()
}

fn sort(ranked: &mut [Ranked<'_>], by: Sort) {
    match by {
        Sort::Worst => ranked.sort_by(|a, b| {
            (
                !a.dark,
                a.worst.severity(),
                Reverse(a.problems),
                &a.name_key,
            )
                .cmp(&(
                    !b.dark,
                    b.worst.severity(),
                    Reverse(b.problems),
                    &b.name_key,
                ))
        }),
        Sort::Name => ranked.sort_by(|a, b| (&a.name_key, a.key).cmp(&(&b.name_key, b.key))),
    }
}

/// One row of the grid: a cell per column, each cell's targets by service, operator, name.
fn commune_row(r: Ranked<'_>, columns: &[String], cols: Cols) -> CommuneRow {
    let (p, c) = r.key;
    let mut cells: Vec<Cell> = columns
        .iter()
        .map(|col| Cell {
            column: col.clone(),
            targets: Vec::new(),
        })
        .collect();
    for t in r.targets {
        let col = cols.label(&t.target.labels);
        // Columns were collected from these very targets, so the search always hits.
        if let Ok(i) = columns.binary_search_by(|x| x.as_str().cmp(col)) {
            cells[i].targets.push(cell_target(t));
        }
    }
    for cell in &mut cells {
        cell.targets.sort_by(|a, b| {
            (&a.service, &a.operator, &a.name).cmp(&(&b.service, &b.operator, &b.name))
        });
    }
    CommuneRow {
        province: p.to_string(),
        commune: c.to_string(),
        worst: r.worst,
        dark: r.dark,
        problems: r.problems,
        cells,
    }
}

#[cfg(test)]
mod tests;

//! The overview's query parameters: which province, operator, service and states a reader
//! wants, the search, the sort, the grid's columns and the page — parsed from the query
//! string and written back into links.

use serde::Serialize;

use crate::config::Labels;
use crate::state::State;
use crate::web::error::ApiError;
use crate::web::view::query::Query;

/// Communes per page unless `per_page` says otherwise: a province (Hà Tĩnh has 69) fits on one
/// page; the country (3,321) is paged.
pub const DEFAULT_PER_PAGE: usize = 100;
pub const MAX_PER_PAGE: usize = 500;

/// Which states a reader wants to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    One(State),
    /// Down, unreachable or degraded.
    Problem,
}

impl StateFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            StateFilter::One(s) => s.as_str(),
            StateFilter::Problem => "problem",
        }
    }

    pub(super) fn matches(self, s: State) -> bool {
        match self {
            StateFilter::One(x) => x == s,
            StateFilter::Problem => s.is_problem(),
        }
    }
}

impl Serialize for StateFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Fully dark communes, then by the worst state, then by how many targets are failing.
    #[default]
    Worst,
    Name,
}

/// What the grid's columns are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cols {
    #[default]
    Operator,
    Service,
}

impl Cols {
    pub(super) fn label(self, l: &Labels) -> &str {
        match self {
            Cols::Operator => &l.operator,
            Cols::Service => &l.service,
        }
    }
}

/// The overview's query parameters. Empty values mean "no filter", so a plain HTML form with
/// an "all" option works without JavaScript.
#[derive(Debug, Clone, Serialize)]
pub struct Filter {
    pub province: Option<String>,
    pub operator: Option<String>,
    pub service: Option<String>,
    pub state: Option<StateFilter>,
    pub q: Option<String>,
    pub sort: Sort,
    pub cols: Cols,
    pub page: usize,
    pub per_page: usize,
}

impl Default for Filter {
    /// No filter: everything, worst first, first page.
    fn default() -> Self {
        Filter {
            province: None,
            operator: None,
            service: None,
            state: None,
            q: None,
            sort: Sort::Worst,
            cols: Cols::Operator,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

fn non_empty(q: &Query, key: &str) -> Option<String> {
    q.get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn invalid(msg: String) -> ApiError {
    ApiError::bad_request("invalid_query", msg)
}

impl Filter {
    pub fn parse(q: &Query) -> Result<Filter, ApiError> {
        let state = match non_empty(q, "state") {
            None => None,
            Some(s) if s == "problem" => Some(StateFilter::Problem),
            Some(s) => Some(StateFilter::One(State::parse(&s).ok_or_else(|| {
                invalid(format!(
                    "`state` must be problem, up, degraded, down, unreachable, unknown or maintenance, not `{s}`"
                ))
            })?)),
        };
        let sort = match non_empty(q, "sort").as_deref() {
            None | Some("worst") => Sort::Worst,
            Some("name") => Sort::Name,
            Some(o) => return Err(invalid(format!("`sort` must be worst or name, not `{o}`"))),
        };
        let cols = match non_empty(q, "cols").as_deref() {
            None | Some("operator") => Cols::Operator,
            Some("service") => Cols::Service,
            Some(o) => {
                return Err(invalid(format!(
                    "`cols` must be operator or service, not `{o}`"
                )));
            }
        };
        let number = |key: &str, default: usize, max: usize| -> Result<usize, ApiError> {
            match non_empty(q, key) {
                None => Ok(default),
                Some(v) => match v.parse::<usize>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(invalid(format!(
                        "`{key}` must be a whole number from 1 to {max}"
                    ))),
                },
            }
        };
        Ok(Filter {
            province: non_empty(q, "province"),
            operator: non_empty(q, "operator"),
            service: non_empty(q, "service"),
            state,
            q: non_empty(q, "q"),
            sort,
            cols,
            page: number("page", 1, 1_000_000)?,
            per_page: number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?,
        })
    }

    /// The filter as query pairs (defaults left out), for links that keep it.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        let mut put = |k: &'static str, val: &Option<String>| {
            if let Some(x) = val {
                v.push((k, x.clone()));
            }
        };
        put("province", &self.province);
        put("operator", &self.operator);
        put("service", &self.service);
        put("q", &self.q);
        if let Some(s) = self.state {
            v.push(("state", s.as_str().to_string()));
        }
        if self.sort == Sort::Name {
            v.push(("sort", "name".into()));
        }
        if self.cols == Cols::Service {
            v.push(("cols", "service".into()));
        }
        if self.per_page != DEFAULT_PER_PAGE {
            v.push(("per_page", self.per_page.to_string()));
        }
        v
    }
}

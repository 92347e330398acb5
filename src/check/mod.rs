//! Checks: assertions over an [`Observation`] that decide pass or fail, each kept in its resolved
//! form (`status (503) in [200, 204]`, `loss (0.40) <= 0.20`, `rtt_p50 (812ms) < 300ms`) so the
//! page and alerts can say exactly what failed.
//!
//! Operators write checks as short sentences, `SUBJECT OP VALUE`, validated at config load:
//! ```text
//! status in [200, 204]          loss <= 0.2   (or 20%)       rtt_p50 < 300ms
//! cert_days >= 14               body contains "Hà Tĩnh"      body matches "v[0-9]+"
//! json /status == "ok"          json /queue < 100            header content-type contains "json"
//! rcode == NOERROR              answers contains "192.0.2.1" reply matches "^220 "
//! push_age <= 90s               push_status == ok            latency < 2s
//! oid("1.3.6.1.2.1.2.2.1.8.3") == 1                           power == mains
//! ```
//! A target's `checks` decide failure; its `degraded` checks only mark a passing sample as
//! degraded, so the state engine can show a link that works but badly.

mod eval;
mod expr;
mod parse;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::probe::{ErrorCode, Kind, Observation};

/// The numeric facts and the status expectation checks read; the vocabulary lives with the
/// probes that report it, so each kind's file can list what applies to it.
pub use crate::probe::{Metric, StatusExpect};
pub use expr::Expr;
pub use parse::{CheckError, parse_duration};

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The status code of an HTTP or SIP answer (from `expect_status`).
    Status(StatusExpect),
    /// A check written in the check language.
    Expr(Expr),
}

/// One evaluated check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub ok: bool,
    /// The check with the observed value filled in, e.g. `status (503) in [200]`.
    pub resolved: String,
    /// True for a `degraded` check: failing it degrades the target instead of failing it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub degraded: bool,
}

/// Durations print the same everywhere people read them (checks, pages, `commwatch probe`).
pub use crate::time::fmt_secs;

impl Check {
    /// Parses a check sentence for a target of `kind`.
    pub fn parse(text: &str, kind: Kind) -> Result<Check, CheckError> {
        Expr::parse(text, kind).map(Check::Expr)
    }

    /// True when the check reads the response body, which is then kept for it.
    pub fn needs_body(&self) -> bool {
        match self {
            Check::Status(_) => false,
            Check::Expr(e) => e.needs_body(),
        }
    }

    /// The SNMP OID the check reads, if it reads one.
    pub fn oid(&self) -> Option<&str> {
        match self {
            Check::Status(_) => None,
            Check::Expr(e) => e.oid(),
        }
    }

    /// Evaluates the check; `None` when the observation lacks the fact (the probe failed first).
    pub fn evaluate(&self, obs: &Observation) -> Option<CheckResult> {
        let (ok, resolved) = match self {
            Check::Status(expect) => {
                let status = Metric::Status.value(obs)? as u16;
                let (ok, wanted) = match expect {
                    StatusExpect::Success => ((200..300).contains(&status), "2xx".to_string()),
                    StatusExpect::OneOf(list) => {
                        let items: Vec<String> = list.iter().map(u16::to_string).collect();
                        (list.contains(&status), format!("[{}]", items.join(", ")))
                    }
                };
                let op = if matches!(expect, StatusExpect::Success) {
                    "is"
                } else {
                    "in"
                };
                (ok, format!("status ({status}) {op} {wanted}"))
            }
            Check::Expr(e) => e.evaluate(obs)?,
        };
        Some(CheckResult {
            ok,
            resolved,
            degraded: false,
        })
    }
}

/// The verdict on one probe run: what the store records and the state engine consumes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// True when the sample passed but a `degraded` check failed: the target works, badly.
    pub degraded: bool,
    #[serde(serialize_with = "ser_secs")]
    pub latency: Duration,
    pub error: Option<ErrorCode>,
    /// Error detail or the failing checks in resolved form.
    pub detail: Option<String>,
    pub checks: Vec<CheckResult>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Applies `checks` to `obs` and produces the sample.
pub fn judge(checks: &[Check], obs: &Observation) -> Sample {
    judge_with(checks, &[], obs)
}

/// Applies failure `checks` and `degraded` checks to `obs` and produces the sample.
pub fn judge_with(checks: &[Check], degraded: &[Check], obs: &Observation) -> Sample {
    let mut results: Vec<CheckResult> = checks.iter().filter_map(|c| c.evaluate(obs)).collect();
    let soft: Vec<CheckResult> = degraded
        .iter()
        .filter_map(|c| c.evaluate(obs))
        .map(|mut r| {
            r.degraded = true;
            r
        })
        .collect();
    let failing = |rs: &[CheckResult]| -> Vec<String> {
        rs.iter()
            .filter(|r| !r.ok)
            .map(|r| r.resolved.clone())
            .collect()
    };
    let hard_failing = failing(&results);
    let soft_failing = failing(&soft);
    let (ok, error, detail) = match obs.error {
        Some(code) => (false, Some(code), obs.error_detail.clone()),
        None if !hard_failing.is_empty() => (
            false,
            Some(ErrorCode::CheckFailed),
            Some(hard_failing.join("; ")),
        ),
        None if !soft_failing.is_empty() => (true, None, Some(soft_failing.join("; "))),
        None => (true, None, None),
    };
    let is_degraded = ok && !soft_failing.is_empty();
    results.extend(soft);
    Sample {
        at: obs.started_at,
        ok,
        degraded: is_degraded,
        latency: obs.duration,
        error,
        detail,
        checks: results,
    }
}

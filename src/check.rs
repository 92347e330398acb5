//! Checks: assertions over an [`Observation`] that decide pass or fail, each kept in its resolved
//! form (`status (503) in [200, 204]`) so the page and alerts can say exactly what failed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::probe::{ErrorCode, Observation};

/// What status codes count as healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusExpect {
    /// Any 2xx: the default when a target names no list.
    Success,
    OneOf(Vec<u16>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Status(StatusExpect),
}

/// One evaluated check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub ok: bool,
    /// The check with the observed value filled in, e.g. `status (503) in [200]`.
    pub resolved: String,
}

impl Check {
    /// Evaluates the check; `None` when the observation lacks the fact (the probe failed first).
    pub fn evaluate(&self, obs: &Observation) -> Option<CheckResult> {
        match self {
            Check::Status(expect) => {
                let status = obs.facts.http_status?;
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
                Some(CheckResult {
                    ok,
                    resolved: format!("status ({status}) {op} {wanted}"),
                })
            }
        }
    }
}

/// The verdict on one probe run: what the store records and the state engine consumes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub ok: bool,
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
    let results: Vec<CheckResult> = checks.iter().filter_map(|c| c.evaluate(obs)).collect();
    let failing: Vec<&str> = results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.resolved.as_str())
        .collect();
    let (ok, error, detail) = match obs.error {
        Some(code) => (false, Some(code), obs.error_detail.clone()),
        None if !failing.is_empty() => (
            false,
            Some(ErrorCode::CheckFailed),
            Some(failing.join("; ")),
        ),
        None => (true, None, None),
    };
    Sample {
        at: obs.started_at,
        ok,
        latency: obs.duration,
        error,
        detail,
        checks: results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Facts, Phases};

    fn obs(status: Option<u16>) -> Observation {
        Observation {
            kind: "http",
            started_at: Utc::now(),
            duration: Duration::from_millis(12),
            error: None,
            error_detail: None,
            phases: Phases::default(),
            facts: Facts {
                http_status: status,
                ..Facts::default()
            },
        }
    }

    #[test]
    fn status_checks_resolve_with_the_observed_value() {
        let c = Check::Status(StatusExpect::OneOf(vec![200, 204]));
        let r = c.evaluate(&obs(Some(503))).unwrap();
        assert!(!r.ok);
        assert_eq!(r.resolved, "status (503) in [200, 204]");
        let s = judge(&[c], &obs(Some(503)));
        assert!(!s.ok);
        assert_eq!(s.error, Some(ErrorCode::CheckFailed));
        assert_eq!(s.detail.as_deref(), Some("status (503) in [200, 204]"));
    }

    #[test]
    fn default_status_check_accepts_2xx_only() {
        let c = Check::Status(StatusExpect::Success);
        assert!(c.evaluate(&obs(Some(204))).unwrap().ok);
        assert!(!c.evaluate(&obs(Some(301))).unwrap().ok);
        assert_eq!(
            c.evaluate(&obs(Some(301))).unwrap().resolved,
            "status (301) is 2xx"
        );
        assert!(c.evaluate(&obs(None)).is_none());
    }

    #[test]
    fn probe_errors_win_over_checks() {
        let mut o = obs(None);
        o.error = Some(ErrorCode::Timeout);
        o.error_detail = Some("no answer within 1s".into());
        let s = judge(&[Check::Status(StatusExpect::Success)], &o);
        assert!(!s.ok);
        assert_eq!(s.error, Some(ErrorCode::Timeout));
        assert!(s.checks.is_empty());
    }
}

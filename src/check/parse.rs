//! Parsing check sentences at config load: the subject, the operator and a typed operand, with
//! a message that says what is wrong and what would be accepted.

use std::time::Duration;

use regex::Regex;

use super::expr::{Expr, Op, Operand, Subject};
use crate::probe::{Kind, Metric, Power, Unit};

/// Why a check sentence was refused; the config layer adds file, line and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CheckError(pub String);

pub(super) fn err<T>(msg: impl Into<String>) -> Result<T, CheckError> {
    Err(CheckError(msg.into()))
}

/// A quoted string, JSON rules (`"a \"b\""`).
fn quoted(s: &str, what: &str) -> Result<String, CheckError> {
    if !s.starts_with('"') {
        return err(format!(
            "{what} must be a quoted string such as \"ok\", got `{s}`"
        ));
    }
    serde_json::from_str::<String>(s)
        .map_err(|_| CheckError(format!("{what}: `{s}` is not a well-formed quoted string")))
}

/// `300ms`, `1.5s`, `2m`, `250us`: a unit is required so `< 300` cannot be misread.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn list_items(s: &str) -> Result<Vec<&str>, CheckError> {
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(|| CheckError(format!("`in` takes a list such as [200, 204], got `{s}`")))?;
    let items: Vec<&str> = inner
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect();
    if items.is_empty() {
        return err("the list is empty");
    }
    Ok(items)
}

/// `oid("1.3.6.1.2.1.1.3.0")`: one SNMP value by its dotted OID.
fn oid_subject(head: &str) -> Result<Subject, CheckError> {
    let bad = || {
        CheckError(format!(
            "`{head}` is not oid(\"DOTTED.OID\"), e.g. oid(\"1.3.6.1.2.1.2.2.1.8.3\") == 1 (no spaces inside)"
        ))
    };
    let inner = head
        .strip_prefix("oid(")
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(bad)?;
    let dotted = quoted(inner, "the OID").map_err(|_| bad())?;
    let oid = crate::probe::canonical_oid(&dotted).map_err(CheckError)?;
    Ok(Subject::Oid(oid))
}

impl Expr {
    /// Parses `SUBJECT OP VALUE` for a target of kind `kind`.
    pub fn parse(text: &str, kind: Kind) -> Result<Expr, CheckError> {
        let text = text.trim();
        let (head, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim_start();
        let (subject, rest) = match head {
            "body" => (Subject::Body, rest),
            "reply" => (Subject::Reply, rest),
            "rcode" => (Subject::Rcode, rest),
            "push_status" => (Subject::PushStatus, rest),
            "answers" => (Subject::Answers, rest),
            "integrity" => (Subject::Integrity, rest),
            "signals" => (Subject::Signals, rest),
            "power" => (Subject::Power, rest),
            h if h.starts_with("oid(") => (oid_subject(h)?, rest),
            "header" | "json" => {
                let (arg, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                if arg.is_empty() {
                    return err(format!(
                        "`{head}` needs a name, e.g. `{head} {}`",
                        if head == "json" {
                            "/status == \"ok\""
                        } else {
                            "content-type contains \"json\""
                        }
                    ));
                }
                let s = if head == "json" {
                    if !arg.starts_with('/') {
                        return err(format!(
                            "`{arg}` is not a JSON pointer (they start with `/`, e.g. /data/0/status)"
                        ));
                    }
                    Subject::Json(arg.to_string())
                } else {
                    if http::HeaderName::from_bytes(arg.as_bytes()).is_err() {
                        return err(format!("`{arg}` is not a header name"));
                    }
                    Subject::Header(arg.to_ascii_lowercase())
                };
                (s, rest.trim_start())
            }
            name => match Metric::ALL.iter().find(|(n, _)| *n == name) {
                Some((_, m)) => (Subject::Num(*m), rest),
                None => {
                    let names: Vec<&str> = Metric::ALL.iter().map(|(n, _)| *n).collect();
                    return err(format!(
                        "unknown check subject `{name}`; use one of {}, body, header NAME, json /POINTER, reply, rcode, answers, push_status, integrity, signals, oid(\"1.3.6...\"), power",
                        names.join(", ")
                    ));
                }
            },
        };
        if !subject.applies_to(kind) {
            return err(format!(
                "`{}` does not apply to kind `{}` (it applies to {})",
                subject.label(),
                kind.name(),
                subject.kinds().join(", ")
            ));
        }
        let (op_text, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let value = value.trim();
        let Some(op) = Op::parse(op_text) else {
            return err(format!(
                "expected an operator (==, !=, <, <=, >, >=, in, contains, !contains, matches, !matches) after `{}`, got `{op_text}`",
                subject.label()
            ));
        };
        if value.is_empty() {
            return err(format!("`{} {op}` needs a value", subject.label()));
        }
        let (operand, shown) = Self::operand(&subject, op, value)?;
        Ok(Expr {
            subject,
            op,
            operand,
            shown,
        })
    }

    fn operand(subject: &Subject, op: Op, value: &str) -> Result<(Operand, String), CheckError> {
        let label = subject.label();
        let bad_op = |allowed: &str| {
            err::<(Operand, String)>(format!("`{label}` does not take `{op}`; use {allowed}"))
        };
        match subject {
            Subject::Num(m) => {
                if op == Op::In {
                    if m.unit() != Unit::Count {
                        return bad_op("<, <=, >, >=, == or !=");
                    }
                    let nums = list_items(value)?
                        .into_iter()
                        .map(|x| {
                            x.parse::<f64>()
                                .map_err(|_| CheckError(format!("`{x}` is not a number")))
                        })
                        .collect::<Result<Vec<f64>, _>>()?;
                    let shown = format!(
                        "[{}]",
                        nums.iter()
                            .map(|n| m.show(*n))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    return Ok((Operand::Nums(nums), shown));
                }
                if !op.is_order() {
                    return bad_op("<, <=, >, >=, == or !=");
                }
                let n = match m.unit() {
                    Unit::Count => value
                        .parse::<f64>()
                        .map_err(|_| CheckError(format!("`{value}` is not a number")))?,
                    Unit::Ratio => {
                        let r = match value.strip_suffix('%') {
                            Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
                            None => value.parse::<f64>(),
                        }
                        .map_err(|_| {
                            CheckError(format!("`{value}` is not a ratio such as 0.2 or 20%"))
                        })?;
                        if !(0.0..=1.0).contains(&r) {
                            return err(format!("`{value}` is outside 0..1 (0% to 100%)"));
                        }
                        r
                    }
                    Unit::Duration => parse_duration(value)
                        .ok_or_else(|| {
                            CheckError(format!(
                                "`{value}` is not a duration with a unit, such as 300ms or 2s"
                            ))
                        })?
                        .as_secs_f64(),
                };
                Ok((Operand::Num(n), m.show(n)))
            }
            Subject::Body
            | Subject::Reply
            | Subject::Header(_)
            | Subject::Answers
            | Subject::Signals => {
                let text_eq =
                    matches!(subject, Subject::Header(_)) && matches!(op, Op::Eq | Op::Ne);
                if !(op.is_text() || text_eq) {
                    return bad_op("contains, !contains, matches or !matches");
                }
                let s = quoted(value, &label)?;
                let shown = serde_json::to_string(&s).unwrap_or_default();
                if matches!(op, Op::Matches | Op::NotMatches) {
                    let re = Regex::new(&s)
                        .map_err(|e| CheckError(format!("bad regex {shown}: {e}")))?;
                    Ok((Operand::Pattern(re), shown))
                } else {
                    Ok((Operand::Text(s), shown))
                }
            }
            Subject::Json(_) => match op {
                Op::Eq | Op::Ne => {
                    let v: serde_json::Value = serde_json::from_str(value).map_err(|_| {
                        CheckError(format!(
                            "`{value}` is not a JSON value (strings need quotes: \"ok\")"
                        ))
                    })?;
                    Ok((Operand::Json(v.clone()), v.to_string()))
                }
                Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let n = value
                        .parse::<f64>()
                        .map_err(|_| CheckError(format!("`{value}` is not a number")))?;
                    Ok((Operand::Num(n), format!("{n}")))
                }
                Op::Contains | Op::NotContains | Op::Matches | Op::NotMatches => {
                    Self::operand(&Subject::Body, op, value)
                }
                Op::In => bad_op("==, !=, <, <=, >, >=, contains or matches"),
            },
            Subject::Oid(_) => {
                if value.starts_with('"') {
                    if matches!(op, Op::Eq | Op::Ne) {
                        let s = quoted(value, &label)?;
                        let shown = serde_json::to_string(&s).unwrap_or_default();
                        return Ok((Operand::Text(s), shown));
                    }
                    if op.is_text() {
                        return Self::operand(&Subject::Body, op, value);
                    }
                    return bad_op("==, !=, contains or matches with a quoted string");
                }
                Self::operand(&Subject::Num(Metric::Status), op, value).map_err(|_| {
                    CheckError(format!(
                        "`{label}` compares with a number (== 1, < 100, in [1, 3]) or a quoted string (== \"up\"), got `{op} {value}`"
                    ))
                })
            }
            Subject::Rcode | Subject::PushStatus | Subject::Integrity | Subject::Power => {
                let integrity = crate::probe::Integrity::ALL.map(crate::probe::Integrity::as_str);
                let allowed: &[&str] = match subject {
                    Subject::Rcode => &crate::probe::RCODES,
                    Subject::Integrity => &integrity,
                    Subject::Power => &Power::WORDS,
                    _ => &["ok", "fail"],
                };
                let words: Vec<String> = match op {
                    Op::In => list_items(value)?.into_iter().map(str::to_string).collect(),
                    Op::Eq | Op::Ne => vec![value.to_string()],
                    _ => return bad_op("==, != or in"),
                };
                let words: Vec<String> = words
                    .into_iter()
                    .map(|w| {
                        let w = w.trim_matches('"');
                        let norm = if *subject == Subject::Rcode {
                            w.to_ascii_uppercase()
                        } else {
                            w.to_ascii_lowercase()
                        };
                        if allowed.contains(&norm.as_str()) {
                            Ok(norm)
                        } else {
                            Err(CheckError(format!(
                                "`{w}` is not one of {}",
                                allowed.join(", ")
                            )))
                        }
                    })
                    .collect::<Result<_, _>>()?;
                let shown = if op == Op::In {
                    format!("[{}]", words.join(", "))
                } else {
                    words.join(", ")
                };
                Ok((Operand::Words(words), shown))
            }
        }
    }

    /// The OID this check reads, which the snmp probe then fetches.
    pub fn oid(&self) -> Option<&str> {
        match &self.subject {
            Subject::Oid(o) => Some(o),
            _ => None,
        }
    }

    /// True when evaluating this check needs the response body kept.
    pub fn needs_body(&self) -> bool {
        matches!(self.subject, Subject::Body | Subject::Json(_))
    }
}

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
//! ```
//! A target's `checks` decide failure; its `degraded` checks only mark a passing sample as
//! degraded, so the state engine can show a link that works but badly.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Serialize;

use crate::probe::{ErrorCode, Observation};

/// What status codes count as healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusExpect {
    /// Any 2xx: the default when a target names no list.
    Success,
    OneOf(Vec<u16>),
}

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

/// A numeric fact and how its values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Status,
    Sent,
    Received,
    BodyBytes,
    CertDays,
    Loss,
    RttMin,
    RttAvg,
    RttP50,
    RttMax,
    Jitter,
    Latency,
    Dns,
    Connect,
    Tls,
    FirstByte,
    Transfer,
    PushAge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Count,
    Ratio,
    Duration,
}

impl Metric {
    const ALL: [(&'static str, Metric); 19] = [
        ("status", Metric::Status),
        ("sent", Metric::Sent),
        ("received", Metric::Received),
        ("body_bytes", Metric::BodyBytes),
        ("cert_days", Metric::CertDays),
        ("loss", Metric::Loss),
        ("rtt_min", Metric::RttMin),
        ("rtt_avg", Metric::RttAvg),
        ("rtt_p50", Metric::RttP50),
        ("rtt_median", Metric::RttP50),
        ("rtt_max", Metric::RttMax),
        ("jitter", Metric::Jitter),
        ("latency", Metric::Latency),
        ("dns", Metric::Dns),
        ("connect", Metric::Connect),
        ("tls", Metric::Tls),
        ("first_byte", Metric::FirstByte),
        ("transfer", Metric::Transfer),
        ("push_age", Metric::PushAge),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }

    fn unit(self) -> Unit {
        match self {
            Metric::Status
            | Metric::Sent
            | Metric::Received
            | Metric::BodyBytes
            | Metric::CertDays => Unit::Count,
            Metric::Loss => Unit::Ratio,
            _ => Unit::Duration,
        }
    }

    /// Probe kinds that report this fact.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            Metric::Status => &["http", "sip"],
            Metric::Sent
            | Metric::Received
            | Metric::Loss
            | Metric::RttMin
            | Metric::RttAvg
            | Metric::RttP50
            | Metric::RttMax
            | Metric::Jitter => &["icmp"],
            Metric::BodyBytes | Metric::Transfer => &["http"],
            Metric::CertDays | Metric::Tls => &["http", "tls"],
            Metric::Latency => &["http", "tcp", "icmp", "dns", "tls", "heartbeat", "sip"],
            Metric::Dns => &["http", "tcp", "dns", "tls", "sip"],
            Metric::Connect => &["http", "tcp", "tls", "sip"],
            Metric::FirstByte => &["http", "tcp", "sip"],
            Metric::PushAge => &["heartbeat"],
        }
    }

    /// The observed value: a count, a ratio, or seconds.
    fn value(self, obs: &Observation) -> Option<f64> {
        let f = &obs.facts;
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let icmp = f.icmp.as_ref();
        match self {
            Metric::Status => f
                .http_status
                .or_else(|| f.sip.as_ref().map(|s| s.status))
                .map(f64::from),
            Metric::Sent => icmp.map(|i| f64::from(i.sent)),
            Metric::Received => icmp.map(|i| f64::from(i.received)),
            Metric::BodyBytes => f.body_bytes.map(|b| b as f64),
            Metric::CertDays => f.tls.as_ref().map(|t| t.days_left as f64),
            Metric::Loss => icmp.map(|i| i.loss),
            Metric::RttMin => secs(icmp.and_then(|i| i.rtt_min)),
            Metric::RttAvg => secs(icmp.and_then(|i| i.rtt_avg)),
            Metric::RttP50 => secs(icmp.and_then(|i| i.rtt_median)),
            Metric::RttMax => secs(icmp.and_then(|i| i.rtt_max)),
            Metric::Jitter => secs(icmp.and_then(|i| i.jitter)),
            Metric::Latency => Some(obs.duration.as_secs_f64()),
            Metric::Dns => secs(obs.phases.dns),
            Metric::Connect => secs(obs.phases.connect),
            Metric::Tls => secs(obs.phases.tls),
            Metric::FirstByte => secs(obs.phases.first_byte),
            Metric::Transfer => secs(obs.phases.transfer),
            Metric::PushAge => f.heartbeat.as_ref().map(|h| h.age.as_secs_f64()),
        }
    }

    fn show(self, v: f64) -> String {
        match self.unit() {
            Unit::Count => format!("{v}"),
            Unit::Ratio => format!("{v:.2}"),
            Unit::Duration => fmt_secs(v),
        }
    }
}

/// Durations print the same everywhere people read them (checks, pages, `commwatch probe`).
pub use crate::time::fmt_secs;

/// What a check looks at.
#[derive(Debug, Clone, PartialEq)]
enum Subject {
    Num(Metric),
    Body,
    Reply,
    Header(String),
    Json(String),
    Rcode,
    PushStatus,
    Answers,
}

impl Subject {
    fn kinds(&self) -> &'static [&'static str] {
        match self {
            Subject::Num(m) => m.kinds(),
            Subject::Body | Subject::Header(_) | Subject::Json(_) => &["http"],
            Subject::Reply => &["tcp"],
            Subject::Rcode | Subject::Answers => &["dns"],
            Subject::PushStatus => &["heartbeat"],
        }
    }

    fn label(&self) -> String {
        match self {
            Subject::Num(m) => m.name().to_string(),
            Subject::Body => "body".into(),
            Subject::Reply => "reply".into(),
            Subject::Header(h) => format!("header {h}"),
            Subject::Json(p) => format!("json {p}"),
            Subject::Rcode => "rcode".into(),
            Subject::PushStatus => "push_status".into(),
            Subject::Answers => "answers".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Contains,
    NotContains,
    Matches,
    NotMatches,
}

impl Op {
    const ALL: [(&'static str, Op); 11] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
        ("in", Op::In),
        ("contains", Op::Contains),
        ("!contains", Op::NotContains),
        ("matches", Op::Matches),
        ("!matches", Op::NotMatches),
    ];

    fn parse(s: &str) -> Option<Op> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, o)| *o)
    }

    fn is_order(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne)
    }

    fn is_text(self) -> bool {
        matches!(
            self,
            Op::Contains | Op::NotContains | Op::Matches | Op::NotMatches
        )
    }

    fn compare(self, a: f64, b: f64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            _ => false,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL
            .iter()
            .find(|(_, o)| o == self)
            .map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

/// The right-hand side, already parsed and typed.
#[derive(Debug, Clone)]
enum Operand {
    Num(f64),
    Nums(Vec<f64>),
    Words(Vec<String>),
    Text(String),
    Pattern(Regex),
    Json(serde_json::Value),
}

impl PartialEq for Operand {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Operand::Num(a), Operand::Num(b)) => a == b,
            (Operand::Nums(a), Operand::Nums(b)) => a == b,
            (Operand::Words(a), Operand::Words(b)) => a == b,
            (Operand::Text(a), Operand::Text(b)) => a == b,
            (Operand::Pattern(a), Operand::Pattern(b)) => a.as_str() == b.as_str(),
            (Operand::Json(a), Operand::Json(b)) => a == b,
            _ => false,
        }
    }
}

/// A parsed check such as `rtt_p50 < 300ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    subject: Subject,
    op: Op,
    operand: Operand,
    /// The right-hand side in canonical form, for resolved output.
    shown: String,
}

/// Why a check sentence was refused; the config layer adds file, line and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CheckError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, CheckError> {
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

impl Expr {
    /// Parses `SUBJECT OP VALUE` for a target of kind `kind`.
    pub fn parse(text: &str, kind: &str) -> Result<Expr, CheckError> {
        let text = text.trim();
        let (head, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim_start();
        let (subject, rest) = match head {
            "body" => (Subject::Body, rest),
            "reply" => (Subject::Reply, rest),
            "rcode" => (Subject::Rcode, rest),
            "push_status" => (Subject::PushStatus, rest),
            "answers" => (Subject::Answers, rest),
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
                        "unknown check subject `{name}`; use one of {}, body, header NAME, json /POINTER, reply, rcode, answers, push_status",
                        names.join(", ")
                    ));
                }
            },
        };
        if !subject.kinds().contains(&kind) {
            return err(format!(
                "`{}` does not apply to kind `{kind}` (it applies to {})",
                subject.label(),
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
            Subject::Body | Subject::Reply | Subject::Header(_) | Subject::Answers => {
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
            Subject::Rcode | Subject::PushStatus => {
                let allowed: &[&str] = if *subject == Subject::Rcode {
                    &crate::probe::RCODES
                } else {
                    &["ok", "fail"]
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

    /// True when evaluating this check needs the response body kept.
    pub fn needs_body(&self) -> bool {
        matches!(self.subject, Subject::Body | Subject::Json(_))
    }

    fn text_match(&self, hay: &str) -> bool {
        match (&self.operand, self.op) {
            (Operand::Text(t), Op::Contains) => hay.contains(t.as_str()),
            (Operand::Text(t), Op::NotContains) => !hay.contains(t.as_str()),
            (Operand::Text(t), Op::Eq) => hay == t,
            (Operand::Text(t), Op::Ne) => hay != t,
            (Operand::Pattern(re), Op::Matches) => re.is_match(hay),
            (Operand::Pattern(re), Op::NotMatches) => !re.is_match(hay),
            _ => false,
        }
    }

    fn evaluate(&self, obs: &Observation) -> Option<(bool, String)> {
        let f = &obs.facts;
        let (ok, observed) = match &self.subject {
            Subject::Num(m) => {
                let v = m.value(obs)?;
                let ok = match &self.operand {
                    Operand::Num(t) => self.op.compare(v, *t),
                    Operand::Nums(list) => list.contains(&v),
                    _ => false,
                };
                (ok, m.show(v))
            }
            Subject::Body => {
                // A body is only absent when no response arrived.
                f.http_status?;
                let body = f.body.as_deref().unwrap_or("");
                (self.text_match(body), format!("{} bytes", body.len()))
            }
            Subject::Reply => {
                let reply = f.reply.as_deref()?;
                (self.text_match(reply), short_quote(reply))
            }
            Subject::Header(name) => {
                f.http_status?;
                match f.headers.iter().find(|(k, _)| k == name) {
                    Some((_, v)) => (self.text_match(v), short_quote(v)),
                    None => (
                        matches!(self.op, Op::NotContains | Op::NotMatches | Op::Ne),
                        "missing".into(),
                    ),
                }
            }
            Subject::Json(pointer) => {
                f.http_status?;
                let body = f.body.as_deref().unwrap_or("");
                match serde_json::from_str::<serde_json::Value>(body) {
                    Err(_) => (false, "body is not JSON".into()),
                    Ok(doc) => match doc.pointer(pointer) {
                        None => (matches!(self.op, Op::Ne), "missing".into()),
                        Some(v) => {
                            let shown = short(&v.to_string());
                            let ok = match (&self.operand, self.op) {
                                (Operand::Json(want), Op::Eq) => v == want,
                                (Operand::Json(want), Op::Ne) => v != want,
                                (Operand::Num(t), op) => {
                                    v.as_f64().is_some_and(|x| op.compare(x, *t))
                                }
                                _ => {
                                    let text = match v {
                                        serde_json::Value::String(s) => s.clone(),
                                        other => other.to_string(),
                                    };
                                    self.text_match(&text)
                                }
                            };
                            (ok, shown)
                        }
                    },
                }
            }
            Subject::Rcode | Subject::PushStatus => {
                let value = if self.subject == Subject::Rcode {
                    f.dns.as_ref()?.rcode.clone()
                } else {
                    f.heartbeat
                        .as_ref()?
                        .last
                        .as_ref()?
                        .status
                        .as_str()
                        .to_string()
                };
                let Operand::Words(words) = &self.operand else {
                    return None;
                };
                let found = words.contains(&value);
                let ok = if self.op == Op::Ne { !found } else { found };
                (ok, value)
            }
            Subject::Answers => {
                let answers = &f.dns.as_ref()?.answers;
                let any = |pred: &dyn Fn(&str) -> bool| answers.iter().any(|a| pred(a));
                let ok = match (&self.operand, self.op) {
                    (Operand::Text(t), Op::Contains) => any(&|a| a.contains(t.as_str())),
                    (Operand::Text(t), Op::NotContains) => !any(&|a| a.contains(t.as_str())),
                    (Operand::Pattern(re), Op::Matches) => any(&|a| re.is_match(a)),
                    (Operand::Pattern(re), Op::NotMatches) => !any(&|a| re.is_match(a)),
                    _ => false,
                };
                (ok, short(&format!("[{}]", answers.join(", "))))
            }
        };
        Some((
            ok,
            format!(
                "{} ({observed}) {} {}",
                self.subject.label(),
                self.op,
                self.shown
            ),
        ))
    }
}

fn short(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    } else {
        s.to_string()
    }
}

fn short_quote(s: &str) -> String {
    serde_json::to_string(&short(s)).unwrap_or_default()
}

impl Check {
    /// Parses a check sentence for a target of `kind`.
    pub fn parse(text: &str, kind: &str) -> Result<Check, CheckError> {
        Expr::parse(text, kind).map(Check::Expr)
    }

    /// True when the check reads the response body, which is then kept for it.
    pub fn needs_body(&self) -> bool {
        match self {
            Check::Status(_) => false,
            Check::Expr(e) => e.needs_body(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Facts, IcmpFacts, Phases};

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

    fn icmp_obs(loss: f64, median_ms: u64) -> Observation {
        let mut o = obs(None);
        o.kind = "icmp";
        o.facts.icmp = Some(IcmpFacts {
            address: [127, 0, 0, 1].into(),
            socket: "raw",
            sent: 5,
            received: 3,
            loss,
            rtt_min: Some(Duration::from_millis(1)),
            rtt_avg: Some(Duration::from_millis(median_ms)),
            rtt_median: Some(Duration::from_millis(median_ms)),
            rtt_max: Some(Duration::from_millis(median_ms * 2)),
            jitter: Some(Duration::from_millis(3)),
        });
        o
    }

    fn resolved(text: &str, kind: &str, o: &Observation) -> (bool, String) {
        let r = Check::parse(text, kind).unwrap().evaluate(o).unwrap();
        (r.ok, r.resolved)
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
        assert_eq!(
            resolved("status in [200, 204]", "http", &obs(Some(503))),
            (false, "status (503) in [200, 204]".into())
        );
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

    #[test]
    fn loss_and_latency_resolve_in_the_documented_form() {
        let o = icmp_obs(0.4, 812);
        assert_eq!(
            resolved("loss <= 0.20", "icmp", &o),
            (false, "loss (0.40) <= 0.20".into())
        );
        assert_eq!(
            resolved("loss <= 50%", "icmp", &o),
            (true, "loss (0.40) <= 0.50".into())
        );
        assert_eq!(
            resolved("rtt_p50 < 300ms", "icmp", &o),
            (false, "rtt_p50 (812ms) < 300ms".into())
        );
        assert_eq!(
            resolved("rtt_max < 2s", "icmp", &o),
            (true, "rtt_max (1.624s) < 2s".into())
        );
    }

    #[test]
    fn degraded_checks_mark_a_passing_sample() {
        let o = icmp_obs(0.4, 20);
        let hard = [Check::parse("loss < 1", "icmp").unwrap()];
        let soft = [Check::parse("loss <= 10%", "icmp").unwrap()];
        let s = judge_with(&hard, &soft, &o);
        assert!(s.ok);
        assert!(s.degraded);
        assert_eq!(s.detail.as_deref(), Some("loss (0.40) <= 0.10"));
        assert!(s.checks.iter().any(|c| c.degraded && !c.ok));
        let s = judge_with(&hard, &[Check::parse("loss <= 50%", "icmp").unwrap()], &o);
        assert!(s.ok && !s.degraded);
        // A failing sample is failing, not degraded.
        let s = judge_with(&[Check::parse("loss < 0.1", "icmp").unwrap()], &soft, &o);
        assert!(!s.ok && !s.degraded);
    }

    #[test]
    fn body_header_and_json_checks() {
        let mut o = obs(Some(200));
        o.facts.body = Some(r#"{"status":"down","queue":12,"items":[{"name":"Kỳ Anh"}]}"#.into());
        o.facts.headers = vec![("content-type".into(), "application/json".into())];
        assert_eq!(
            resolved(r#"json /status == "ok""#, "http", &o),
            (false, r#"json /status ("down") == "ok""#.into())
        );
        assert!(resolved("json /queue < 100", "http", &o).0);
        assert!(resolved(r#"json /items/0/name contains "Kỳ""#, "http", &o).0);
        assert_eq!(
            resolved(r#"json /missing == 1"#, "http", &o),
            (false, "json /missing (missing) == 1".into())
        );
        assert!(resolved(r#"body contains "queue""#, "http", &o).0);
        assert!(!resolved(r#"body !contains "down""#, "http", &o).0);
        assert!(resolved(r#"body matches "\"queue\":[0-9]+""#, "http", &o).0);
        assert!(resolved(r#"header content-type contains "json""#, "http", &o).0);
        assert_eq!(
            resolved(r#"header x-cache == "HIT""#, "http", &o),
            (false, r#"header x-cache (missing) == "HIT""#.into())
        );
        o.facts.body = Some("<html>".into());
        assert_eq!(
            resolved(r#"json /status == "ok""#, "http", &o).1,
            r#"json /status (body is not JSON) == "ok""#
        );
    }

    #[test]
    fn invalid_checks_are_refused_with_a_reason() {
        let cases = [
            ("loss <= 0.2", "http", "does not apply to kind `http`"),
            ("rtt_p50 < 300", "icmp", "duration with a unit"),
            ("loss <= 2", "icmp", "outside 0..1"),
            ("status ~ 200", "http", "expected an operator"),
            ("frobs > 1", "http", "unknown check subject `frobs`"),
            ("body contains ok", "http", "quoted string"),
            ("body matches \"(\"", "http", "bad regex"),
            ("json status == 1", "http", "not a JSON pointer"),
            ("rcode == NOPE", "dns", "is not one of"),
            ("status in 200", "http", "takes a list"),
            ("cert_days >=", "tls", "needs a value"),
            ("push_status < ok", "heartbeat", "does not take `<`"),
        ];
        for (text, kind, want) in cases {
            let e = Check::parse(text, kind).unwrap_err().0;
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn durations_print_for_people() {
        assert_eq!(fmt_secs(0.000153), "0.153ms");
        assert_eq!(fmt_secs(0.0125), "12.5ms");
        assert_eq!(fmt_secs(0.812), "812ms");
        assert_eq!(fmt_secs(1.5), "1.5s");
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("300"), None);
    }
}

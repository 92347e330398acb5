//! The parts of a check sentence (`SUBJECT OP VALUE`): what it looks at, how it compares, and
//! the typed right-hand side, as parsed once at config load.

use std::fmt;

use regex::Regex;

use crate::probe::{Kind, Metric, TextFact};

/// What a check looks at.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Subject {
    Num(Metric),
    Body,
    Reply,
    Header(String),
    Json(String),
    Rcode,
    PushStatus,
    Answers,
    Integrity,
    Signals,
    /// One SNMP value, by canonical dotted OID.
    Oid(String),
    /// A UPS's power source, in words (mains, battery, off, unknown).
    Power,
}

impl Subject {
    /// Whether a target of `kind` reports what this subject reads: each kind's file lists
    /// its metrics and text facts.
    pub(super) fn applies_to(&self, kind: Kind) -> bool {
        let text = match self {
            Subject::Num(m) => return kind.metrics().contains(m),
            Subject::Body => TextFact::Body,
            Subject::Reply => TextFact::Reply,
            Subject::Header(_) => TextFact::Header,
            Subject::Json(_) => TextFact::Json,
            Subject::Rcode => TextFact::Rcode,
            Subject::PushStatus => TextFact::PushStatus,
            Subject::Answers => TextFact::Answers,
            Subject::Integrity => TextFact::Integrity,
            Subject::Signals => TextFact::Signals,
            Subject::Oid(_) => TextFact::Oid,
            Subject::Power => TextFact::Power,
        };
        kind.texts().contains(&text)
    }

    /// The kinds this subject applies to, in the order messages list them.
    pub(super) fn kinds(&self) -> Vec<&'static str> {
        Kind::ALL
            .into_iter()
            .filter(|k| self.applies_to(*k))
            .map(Kind::name)
            .collect()
    }

    pub(super) fn label(&self) -> String {
        match self {
            Subject::Num(m) => m.name().to_string(),
            Subject::Body => "body".into(),
            Subject::Reply => "reply".into(),
            Subject::Header(h) => format!("header {h}"),
            Subject::Json(p) => format!("json {p}"),
            Subject::Rcode => "rcode".into(),
            Subject::PushStatus => "push_status".into(),
            Subject::Answers => "answers".into(),
            Subject::Integrity => "integrity".into(),
            Subject::Signals => "signals".into(),
            Subject::Oid(o) => format!("oid(\"{o}\")"),
            Subject::Power => "power".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
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

    pub(super) fn parse(s: &str) -> Option<Op> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, o)| *o)
    }

    pub(super) fn is_order(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne)
    }

    pub(super) fn is_text(self) -> bool {
        matches!(
            self,
            Op::Contains | Op::NotContains | Op::Matches | Op::NotMatches
        )
    }

    pub(super) fn compare(self, a: f64, b: f64) -> bool {
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
pub(super) enum Operand {
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
    pub(super) subject: Subject,
    pub(super) op: Op,
    pub(super) operand: Operand,
    /// The right-hand side in canonical form, for resolved output.
    pub(super) shown: String,
}

//! Evaluating a parsed check against one observation, producing its resolved form
//! (`status (503) in [200]`) or nothing when the observation lacks the fact.

use super::expr::{Expr, Op, Operand, Subject};
use crate::probe::Observation;

impl Expr {
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

    pub(super) fn evaluate(&self, obs: &Observation) -> Option<(bool, String)> {
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
            Subject::Oid(oid) => {
                let snmp = f.snmp.as_ref()?;
                match snmp.value(oid).filter(|v| v.text().is_some()) {
                    None => {
                        let why = snmp.value(oid).map_or("missing", |v| v.kind.as_str());
                        (
                            matches!(self.op, Op::Ne | Op::NotContains | Op::NotMatches),
                            why.to_string(),
                        )
                    }
                    Some(v) => {
                        let ok = match &self.operand {
                            Operand::Num(t) => v.number().is_some_and(|n| self.op.compare(n, *t)),
                            Operand::Nums(list) => v.number().is_some_and(|n| list.contains(&n)),
                            _ => self.text_match(&v.text().unwrap_or_default()),
                        };
                        (ok, v.shown())
                    }
                }
            }
            Subject::Power => {
                let ups = f.power()?;
                let Operand::Words(words) = &self.operand else {
                    return None;
                };
                let found = words.iter().any(|w| w == ups.power.as_str());
                let ok = if self.op == Op::Ne { !found } else { found };
                // A failing power check is the cause officers read: "on battery, ~42 min
                // left", "battery exhausted", not the sentence that caught it.
                if !ok {
                    return Some((false, ups.summary.clone()));
                }
                (ok, ups.power.as_str().to_string())
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
            Subject::Integrity => {
                let p = f.portal.as_ref()?;
                let Operand::Words(words) = &self.operand else {
                    return None;
                };
                let found = words.iter().any(|w| w == p.integrity.as_str());
                let ok = if self.op == Op::Ne { !found } else { found };
                // The observed side carries the signals and their evidence: it is the cause
                // the page, the API and alerts show for a compromised portal.
                (ok, p.summary())
            }
            Subject::Signals => {
                let names = f.portal.as_ref()?.signal_names();
                (self.text_match(&names), short_quote(&names))
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

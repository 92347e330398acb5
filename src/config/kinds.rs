//! The kind-specific half of a target as the config layer sees it: keys that do not apply to the
//! target's kind are refused, the kind's own file (`probe/<kind>.rs`) resolves the rest to a
//! spec, and the checks it implies (`expect_status`, `min_days`, `expect_rcode`, the heartbeat
//! window) come first, then the target's own `checks` and `degraded` sentences.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::line_of;
use super::resolve::Ctx;
use super::schema::RawTarget;
use crate::check::{Check, StatusExpect};
use crate::probe::{Key, Kind, ProbeSpec, Resolve, Sink};

/// The resolved kind-specific part of a target.
pub(super) struct KindParts {
    pub spec: Option<ProbeSpec>,
    pub checks: Vec<Check>,
    pub degraded: Vec<Check>,
}

pub(super) fn resolve(
    ctx: &mut Ctx<'_>,
    raw: &Spanned<RawTarget>,
    id: &str,
    timeout: Duration,
) -> KindParts {
    let span = raw.span();
    let r = raw.get_ref();
    let kind = r.kind;
    let keys = r.keys();
    for key in Key::ALL {
        if !kind.keys().contains(&key) && keys.is_set(key) {
            let owners: Vec<&str> = Kind::ALL
                .into_iter()
                .filter(|k| k.keys().contains(&key))
                .map(Kind::name)
                .collect();
            ctx.err_key(
                span.clone(),
                key.name(),
                format!(
                    "does not apply to kind `{}` (it belongs to {})",
                    kind.name(),
                    owners.join(", ")
                ),
            );
        }
    }

    let mut checks = Vec::new();
    let mut degraded = Vec::new();
    for (key, list, out) in [
        ("checks", &r.checks, &mut checks),
        ("degraded", &r.degraded, &mut degraded),
    ] {
        for item in list.iter().flatten() {
            match Check::parse(item.get_ref(), kind) {
                Ok(c) => out.push(c),
                Err(e) => ctx.err_at(
                    line_of(ctx.src, item.span().start),
                    key,
                    format!("check `{}`: {e}", item.get_ref()),
                ),
            }
        }
    }

    // Checks implied by kind keys (expect_status, min_days ...) come first, then the target's.
    let mut sink = TargetSink {
        ctx,
        span: span.clone(),
        kind,
        implied: Vec::new(),
        implied_degraded: Vec::new(),
    };
    let spec = kind.resolve(&mut Resolve {
        keys,
        id,
        timeout,
        sink: &mut sink,
    });
    let mut implied = sink.implied;
    implied.append(&mut checks);
    let checks = implied;
    let mut implied_degraded = sink.implied_degraded;
    implied_degraded.extend(degraded);
    let degraded = implied_degraded;
    // The body is kept in memory only when a check reads it.
    let spec = spec.map(|s| match s {
        ProbeSpec::Http(mut h) => {
            h.keep_body = checks.iter().chain(&degraded).any(Check::needs_body);
            ProbeSpec::Http(h)
        }
        // The OIDs checks name (`oid("...") == 1`) are fetched with the listed ones.
        ProbeSpec::Snmp(mut n) => {
            for oid in checks.iter().chain(&degraded).filter_map(Check::oid) {
                n.want(oid);
            }
            if let Some(e) = n.too_many_oids() {
                ctx.err_key(span.clone(), "checks", e);
            }
            if !n.reads_anything() {
                ctx.err_key(
                    span.clone(),
                    "kind",
                    "kind `snmp` needs `oids`, a `preset` (uptime, interface, ups) or an oid(\"...\") check",
                );
            }
            ProbeSpec::Snmp(n)
        }
        other => other,
    });
    KindParts {
        spec,
        checks,
        degraded,
    }
}

/// Where a kind's findings go: errors at the target's keys, implied checks parsed as the
/// target's own would be.
struct TargetSink<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    span: std::ops::Range<usize>,
    kind: Kind,
    implied: Vec<Check>,
    implied_degraded: Vec<Check>,
}

impl Sink for TargetSink<'_, '_> {
    fn err(&mut self, key: &str, message: String) {
        self.ctx.err_key(self.span.clone(), key, message);
    }

    fn implied(&mut self, key: &str, sentence: &str) {
        match Check::parse(sentence, self.kind) {
            Ok(c) => self.implied.push(c),
            Err(e) => self.err(key, e.0),
        }
    }

    fn implied_degraded(&mut self, key: &str, sentence: &str) {
        match Check::parse(sentence, self.kind) {
            Ok(c) => self.implied_degraded.push(c),
            Err(e) => self.err(key, e.0),
        }
    }

    fn implied_status(&mut self, expect: StatusExpect) {
        self.implied.push(Check::Status(expect));
    }

    fn path(&self, raw: &str) -> PathBuf {
        // Relative paths are relative to the file that names them, like includes.
        let base = self.ctx.file.parent().unwrap_or_else(|| Path::new("."));
        base.join(raw)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::probe::Key;

    #[test]
    fn every_kind_key_is_a_field_of_the_schema() {
        for key in Key::ALL {
            let name = key.name();
            // The value's type may be wrong for the key; only an unknown key would show that
            // `probe::Key` and the schema's `RawTarget` disagree on a name.
            let text = format!("[[targets]]\nid = \"a\"\nkind = \"http\"\n{name} = 1\n");
            let errors = Config::from_str_at(std::path::Path::new("t.toml"), &text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!errors.contains("unknown field"), "{name}: {errors}");
            assert!(
                !errors.is_empty(),
                "{name}: an http target with it set must fail"
            );
        }
    }
}

//! The facts of one observation as `key: value` lines for people (`commwatch probe`); the
//! caller adds the target's heading and the checks, which live above `probe`.

use std::fmt::Write;
use std::time::Duration;

use super::observation::Observation;
use crate::time::fmt_secs;

/// Appends one `  key:      value` line, the layout every line of the report uses.
pub fn line(s: &mut String, k: &str, v: String) {
    let _ = writeln!(s, "  {:<10} {v}", format!("{k}:"));
}

/// Every fact the probe learned, one line each, in a fixed order: time, duration, error,
/// phases, then what each kind reported.
pub fn facts(obs: &Observation) -> String {
    let ms = |d: Duration| fmt_secs(d.as_secs_f64());
    let mut s = String::new();
    let mut line = |k: &str, v: String| line(&mut s, k, v);
    line(
        "at",
        crate::time::local_datetime(obs.started_at).to_string(),
    );
    line("duration", ms(obs.duration));
    if let Some(e) = obs.error {
        line(
            "error",
            format!("{e}: {}", obs.error_detail.as_deref().unwrap_or("")),
        );
    }
    let p = &obs.phases;
    for (name, d) in [
        ("dns", p.dns),
        ("connect", p.connect),
        ("tls", p.tls),
        ("first byte", p.first_byte),
        ("transfer", p.transfer),
    ] {
        if let Some(d) = d {
            line(name, ms(d));
        }
    }
    let f = &obs.facts;
    if let Some(a) = f.remote_addr {
        line("remote", a.to_string());
    }
    if let Some(code) = f.http_status {
        line(
            "status",
            format!("{code} ({})", f.http_version.as_deref().unwrap_or("")),
        );
    }
    if let Some(n) = f.redirects {
        line(
            "redirects",
            format!("{n}, ended at {}", f.final_url.as_deref().unwrap_or("")),
        );
    }
    if let Some(b) = f.body_bytes {
        let cut = if f.body_truncated {
            " (cap reached, rest not read)"
        } else {
            ""
        };
        line("body", format!("{b} bytes{cut}"));
    }
    for (k, v) in &f.headers {
        line("header", format!("{k}: {v}"));
    }
    if let Some(r) = &f.reply {
        line("reply", format!("{r:?}"));
    }
    if let Some(x) = &f.icmp {
        x.describe(&mut line);
    }
    if let Some(x) = &f.dns {
        x.describe(&mut line);
    }
    if let Some(x) = &f.tls {
        x.describe(&mut line);
    }
    if let Some(x) = &f.sip {
        x.describe(&mut line);
    }
    if let Some(x) = &f.heartbeat {
        x.describe(&mut line);
    }
    if let Some(x) = &f.portal {
        x.describe(&mut line);
    }
    if let Some(x) = &f.snmp {
        x.describe(&mut line);
    }
    s
}

//! The facts of one observation as `key: value` lines for people (`commwatch probe`); the
//! caller adds the target's heading and the checks, which live above `probe`.

use std::fmt::Write;
use std::time::Duration;

use super::certs::TlsFacts;
use super::dns::DnsFacts;
use super::heartbeat::HeartbeatFacts;
use super::icmp::IcmpFacts;
use super::observation::Observation;
use super::sip::SipFacts;
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
        icmp(x, &mut line);
    }
    if let Some(x) = &f.dns {
        dns(x, &mut line);
    }
    if let Some(x) = &f.tls {
        tls(x, &mut line);
    }
    if let Some(x) = &f.sip {
        sip(x, &mut line);
    }
    if let Some(x) = &f.heartbeat {
        heartbeat(x, &mut line);
    }
    s
}

/// The echo burst: address and socket kind, packets, round-trip times.
fn icmp(i: &IcmpFacts, line: &mut dyn FnMut(&str, String)) {
    let ms = |d: Duration| fmt_secs(d.as_secs_f64());
    let opt = |d: Option<Duration>| d.map_or_else(|| "-".to_string(), ms);
    line("address", format!("{} ({} socket)", i.address, i.socket));
    line(
        "packets",
        format!(
            "{} sent, {} received, loss {:.2}",
            i.sent, i.received, i.loss
        ),
    );
    line(
        "rtt",
        format!(
            "min {} / avg {} / median {} / max {}, jitter {}",
            opt(i.rtt_min),
            opt(i.rtt_avg),
            opt(i.rtt_median),
            opt(i.rtt_max),
            opt(i.jitter)
        ),
    );
}

/// The answer: response code, where it came from, the records.
fn dns(d: &DnsFacts, line: &mut dyn FnMut(&str, String)) {
    line(
        "rcode",
        format!("{} (from {} over {})", d.rcode, d.server, d.transport),
    );
    line("answers", format!("{}", d.answer_count));
    for a in &d.answers {
        line("answer", a.clone());
    }
}

/// The handshake and the chain, with the earliest end date.
fn tls(tls: &TlsFacts, line: &mut dyn FnMut(&str, String)) {
    line("tls", format!("{} {}", tls.version, tls.cipher));
    let verified = match &tls.verify_error {
        None => "yes".to_string(),
        Some(e) => format!("no: {e}"),
    };
    line("verified", verified);
    line(
        "expires",
        format!(
            "{} ({} days left, earliest in chain)",
            crate::time::local_datetime(tls.earliest_expiry),
            tls.days_left
        ),
    );
    for (i, c) in tls.chain.iter().enumerate() {
        let role = if i == 0 { "leaf" } else { "chain" };
        line(
            role,
            format!(
                "{} — issuer {} — until {} ({} days)",
                c.subject,
                c.issuer,
                c.not_after.format("%Y-%m-%d"),
                c.days_left
            ),
        );
    }
}

/// The final OPTIONS response and how many retransmits it took.
fn sip(sip: &SipFacts, line: &mut dyn FnMut(&str, String)) {
    line("sip", format!("{} {}", sip.status, sip.reason));
    if let Some(server) = &sip.server {
        line("server", server.clone());
    }
    line("retransmits", sip.retransmits.to_string());
}

/// The last push, its age, and the silence allowed.
fn heartbeat(h: &HeartbeatFacts, line: &mut dyn FnMut(&str, String)) {
    let ms = |d: Duration| fmt_secs(d.as_secs_f64());
    match &h.last {
        Some(p) => {
            line(
                "last push",
                format!(
                    "{} ({} ago), status {}",
                    crate::time::local_datetime(p.at),
                    ms(h.age),
                    p.status.as_str()
                ),
            );
            if let Some(m) = &p.message {
                line("message", m.clone());
            }
        }
        None => line("last push", format!("none since start ({} ago)", ms(h.age))),
    }
    line("pushes", h.pushes.to_string());
    line("allowed", format!("{} of silence", ms(h.allowed_silence)));
}

//! The per-target families in the order a scrape writes them, by what they tell: the probes
//! (success, duration, results, errors), the state, and the facts probes learned.

use std::sync::Arc;

use super::text::{Writer, push_value};
use super::{DURATION_BUCKETS, Entry, RTT_STATS};
use crate::probe::ErrorCode;
use crate::state::State;

/// Success, the duration histogram, probes by result and failures by error code.
pub(super) fn probes(w: &mut Writer<'_>, entries: &[Arc<Entry>]) {
    // The `le` values are the same for every target: spelled once per scrape.
    let les: Vec<String> = DURATION_BUCKETS
        .iter()
        .map(|b| {
            let mut le = String::new();
            push_value(&mut le, *b);
            le
        })
        .collect();
    w.gauge(
        entries,
        "commwatch_probe_success",
        "1 if the last probe of the target passed its checks, else 0",
        |d| Some(f64::from(u8::from(d.success))),
    );
    w.family(
        entries,
        "commwatch_probe_duration_seconds",
        "histogram",
        "Duration of probes, from start to verdict",
        |w, l, d| {
            let mut cumulative = 0;
            for (le, n) in les.iter().zip(d.buckets) {
                cumulative += n;
                w.line(
                    "commwatch_probe_duration_seconds_bucket",
                    l,
                    Some(("le", le)),
                    cumulative as f64,
                );
            }
            w.line(
                "commwatch_probe_duration_seconds_bucket",
                l,
                Some(("le", "+Inf")),
                d.count as f64,
            );
            w.line("commwatch_probe_duration_seconds_sum", l, None, d.sum);
            w.line(
                "commwatch_probe_duration_seconds_count",
                l,
                None,
                d.count as f64,
            );
        },
    );
    w.family(
        entries,
        "commwatch_probes_total",
        "counter",
        "Probes run, by result (success or failure)",
        |w, l, d| {
            w.line(
                "commwatch_probes_total",
                l,
                Some(("result", "failure")),
                d.failures as f64,
            );
            w.line(
                "commwatch_probes_total",
                l,
                Some(("result", "success")),
                d.successes as f64,
            );
        },
    );
    w.family(
        entries,
        "commwatch_probe_errors_total",
        "counter",
        "Failed probes by bounded error code",
        |w, l, d| {
            let mut errors = d.errors.clone();
            errors.sort_unstable_by_key(|(k, _)| ErrorCode::ALL[usize::from(*k)].as_str());
            for (k, n) in errors {
                let code = ErrorCode::ALL[usize::from(k)].as_str();
                w.line(
                    "commwatch_probe_errors_total",
                    l,
                    Some(("code", code)),
                    n as f64,
                );
            }
        },
    );
}

/// The state the target is in, one series per state, and whether it is flapping.
pub(super) fn state(w: &mut Writer<'_>, entries: &[Arc<Entry>]) {
    w.family(
        entries,
        "commwatch_target_state",
        "gauge",
        "1 for the state the target is in, 0 for the others (up, degraded, down, unreachable, unknown, maintenance)",
        |w, l, d| {
            for s in STATES_SORTED {
                let v = f64::from(u8::from(s == d.state));
            w.line("commwatch_target_state", l, Some(("state", s.as_str())), v);
            }
        },
    );
    w.gauge(
        entries,
        "commwatch_target_flapping",
        "1 while the target is flapping",
        |d| Some(f64::from(u8::from(d.flapping))),
    );
}

/// What the last probes learned: HTTP status, ICMP loss and RTT, certificate expiry, battery
/// runway. A target
/// whose probe never learned a fact has no series in that family.
pub(super) fn facts(w: &mut Writer<'_>, entries: &[Arc<Entry>]) {
    w.gauge(
        entries,
        "commwatch_http_status_code",
        "Status code of the last HTTP answer (after redirects)",
        |d| d.http_status.map(f64::from),
    );
    w.gauge(
        entries,
        "commwatch_icmp_loss_ratio",
        "Share of echo requests lost in the last ICMP burst, 0 to 1",
        |d| d.icmp.as_ref().map(|i| i.loss),
    );
    w.family(
        entries,
        "commwatch_icmp_rtt_seconds",
        "gauge",
        "Round-trip time of the last ICMP burst by statistic (min, avg, median, max, jitter)",
        |w, l, d| {
            if let Some(i) = &d.icmp {
                let mut stats: Vec<(&str, f64)> = RTT_STATS
                    .iter()
                    .zip(i.rtt)
                    .filter_map(|(s, v)| v.map(|v| (*s, v)))
                    .collect();
                stats.sort_unstable_by_key(|(s, _)| *s);
                for (s, v) in stats {
                    w.line("commwatch_icmp_rtt_seconds", l, Some(("stat", s)), v);
                }
            }
        },
    );
    w.gauge(
        entries,
        "commwatch_tls_cert_expiry_timestamp_seconds",
        "Unix time of the earliest certificate end date in the chain the server presented",
        |d| d.tls_expiry,
    );
    w.gauge(
        entries,
        "commwatch_battery_runway_seconds",
        "Battery time left at a UPS target on battery (from the UPS or its charge trend)",
        |d| d.battery_runway,
    );
}

/// States in the order of their label value, as they are written.
const STATES_SORTED: [State; 6] = [
    State::Degraded,
    State::Down,
    State::Maintenance,
    State::Unknown,
    State::Unreachable,
    State::Up,
];

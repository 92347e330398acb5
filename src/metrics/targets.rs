//! The per-target metric families (success, duration histogram, probe and error counters,
//! state, flapping, HTTP status, ICMP loss and RTT, certificate expiry), held compactly and
//! written to the text format by hand.
//!
//! Why not the prometheus crate's label vectors: at national scale (20,000 targets, about 25
//! series each) they held every series as its own object with its own copies of the label
//! pairs, and every scrape built all of them again as protobuf-shaped structures before
//! encoding — together several hundred megabytes, most of the daemon's memory. Here a target
//! is one small struct behind its own lock, and a scrape writes text in chunks that the web
//! layer streams out, so neither grows with the number of series.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::config::Target;
use crate::probe::{ErrorCode, Observation};
use crate::state::State;

/// Probe duration buckets for WAN paths, in seconds: a probe inside the country answers in
/// tens of milliseconds, a congested 3G backhaul in seconds, and a probe that reaches its
/// timeout (10 s by default) lands at the top. Ten buckets keep the family readable by
/// `histogram_quantile` while 20,000 targets still make a scrape Prometheus can ingest.
pub const DURATION_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The RTT statistics exported per ICMP target: a closed set, so the label stays bounded.
pub const RTT_STATS: [&str; 5] = ["min", "avg", "median", "max", "jitter"];

/// Label names of a target, in the order they are written (sorted, as the prometheus crate
/// writes them, so scrapes read the same as before).
const NAMES: [&str; 5] = ["commune", "kind", "operator", "province", "target"];

/// A scrape is handed out in pieces of about this size.
pub const CHUNK: usize = 256 * 1024;

/// One target's label values, escaped for the text format, joined in one allocation.
struct Labels {
    text: Box<str>,
    /// End of each value in `text`, in [`NAMES`] order.
    ends: [usize; 5],
}

impl Labels {
    fn new(t: &Target) -> Labels {
        let values = [
            t.labels.commune.as_str(),
            t.kind(),
            t.labels.operator.as_str(),
            t.labels.province.as_str(),
            t.id.as_str(),
        ];
        let mut text = String::new();
        let mut ends = [0; 5];
        for (i, v) in values.iter().enumerate() {
            escape_into(&mut text, v);
            ends[i] = text.len();
        }
        Labels {
            text: text.into_boxed_str(),
            ends,
        }
    }

    fn value(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Writes `{name="value",...}` with `extra` (an already escaped value) in its sorted place.
    fn write(&self, out: &mut String, extra: Option<(&str, &str)>) {
        out.push('{');
        let mut extra = extra;
        for (i, name) in NAMES.iter().enumerate() {
            if let Some((en, ev)) = extra
                && en < *name
            {
                push_pair(out, en, ev);
                out.push(',');
                extra = None;
            }
            push_pair(out, name, self.value(i));
            if i + 1 < NAMES.len() {
                out.push(',');
            }
        }
        if let Some((en, ev)) = extra {
            out.push(',');
            push_pair(out, en, ev);
        }
        out.push('}');
    }
}

fn push_pair(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(value);
    out.push('"');
}

/// Label value escaping of the text format: backslash, double quote and newline.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as the text format spells it.
fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{v}");
    }
}

#[derive(Debug, Clone, Copy)]
struct Icmp {
    loss: f64,
    rtt: [Option<f64>; 5],
}

/// What is known of one target. Plain numbers under one lock per target: updates come from
/// the engine one at a time, and a scrape reads each histogram whole.
#[derive(Debug)]
struct Data {
    success: bool,
    state: State,
    flapping: bool,
    /// Observations per bucket (not cumulative); the +Inf bucket is `count`.
    buckets: [u64; DURATION_BUCKETS.len()],
    sum: f64,
    count: u64,
    successes: u64,
    failures: u64,
    /// Failed probes by code (index into [`ErrorCode::ALL`]), only codes seen.
    errors: Vec<(u8, u64)>,
    http_status: Option<u16>,
    icmp: Option<Box<Icmp>>,
    tls_expiry: Option<f64>,
}

impl Default for Data {
    fn default() -> Data {
        Data {
            success: false,
            state: State::Unknown,
            flapping: false,
            buckets: [0; DURATION_BUCKETS.len()],
            sum: 0.0,
            count: 0,
            successes: 0,
            failures: 0,
            errors: Vec::new(),
            http_status: None,
            icmp: None,
            tls_expiry: None,
        }
    }
}

struct Entry {
    labels: Labels,
    data: Mutex<Data>,
}

impl Entry {
    fn lock(&self) -> MutexGuard<'_, Data> {
        // The data are independent counters and gauges: one left half-updated by a panic
        // elsewhere is still worth exporting, so a poisoned lock is taken over.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every target's series, by target id.
#[derive(Default)]
pub struct TargetFamilies {
    entries: RwLock<HashMap<Box<str>, Arc<Entry>>>,
}

impl TargetFamilies {
    fn entry(&self, t: &Target) -> Arc<Entry> {
        {
            let map = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = map.get(t.id.as_str()) {
                return e.clone();
            }
        }
        // First sight of a target that was never registered (a test, or a caller that skips
        // registration): its series start here, as a label vector's would.
        let mut map = self.entries.write().unwrap_or_else(|e| e.into_inner());
        map.entry(t.id.as_str().into())
            .or_insert_with(|| {
                Arc::new(Entry {
                    labels: Labels::new(t),
                    data: Mutex::new(Data::default()),
                })
            })
            .clone()
    }

    /// Starts a target's series at zero (state unknown), replacing any it had.
    pub fn register(&self, t: &Target) {
        let e = Arc::new(Entry {
            labels: Labels::new(t),
            data: Mutex::new(Data::default()),
        });
        let mut map = self.entries.write().unwrap_or_else(|e| e.into_inner());
        map.insert(t.id.as_str().into(), e);
    }

    /// Drops a target's series.
    pub fn unregister(&self, t: &Target) {
        let mut map = self.entries.write().unwrap_or_else(|e| e.into_inner());
        map.remove(t.id.as_str());
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn observe_probe(&self, t: &Target, ok: bool, seconds: f64, code: Option<&str>) {
        let e = self.entry(t);
        let mut d = e.lock();
        d.success = ok;
        if let Some(i) = DURATION_BUCKETS.iter().position(|&b| seconds <= b) {
            d.buckets[i] += 1;
        }
        d.sum += seconds;
        d.count += 1;
        if ok {
            d.successes += 1;
        } else {
            d.failures += 1;
        }
        if let Some(i) = code.and_then(|c| ErrorCode::ALL.iter().position(|k| k.as_str() == c)) {
            // ALL has 13 codes, so the index fits a byte.
            let i = i as u8;
            match d.errors.iter_mut().find(|(k, _)| *k == i) {
                Some((_, n)) => *n += 1,
                None => d.errors.push((i, 1)),
            }
        }
    }

    pub fn observe_facts(&self, t: &Target, obs: &Observation) {
        let f = &obs.facts;
        if f.http_status.is_none() && f.icmp.is_none() && f.tls.is_none() {
            return;
        }
        let e = self.entry(t);
        let mut d = e.lock();
        if let Some(code) = f.http_status {
            d.http_status = Some(code);
        }
        if let Some(i) = &f.icmp {
            let rtt = [i.rtt_min, i.rtt_avg, i.rtt_median, i.rtt_max, i.jitter]
                .map(|v| v.map(|d| d.as_secs_f64()));
            // No reply, no RTT: the statistic's series goes rather than keep a stale value.
            d.icmp = Some(Box::new(Icmp { loss: i.loss, rtt }));
        }
        if let Some(tls) = &f.tls {
            d.tls_expiry = Some(tls.earliest_expiry.timestamp() as f64);
        }
    }

    pub fn set_state(&self, t: &Target, state: State) {
        self.entry(t).lock().state = state;
    }

    pub fn set_flapping(&self, t: &Target, flapping: bool) {
        self.entry(t).lock().flapping = flapping;
    }

    /// Writes every family to `out`, calling `flush` whenever `out` passes [`CHUNK`] bytes
    /// (it takes the text and may empty `out`); stops early when `flush` returns false.
    pub fn render(&self, out: &mut String, flush: &mut dyn FnMut(&mut String) -> bool) -> bool {
        let mut entries: Vec<Arc<Entry>> = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        entries.sort_unstable_by(|a, b| a.labels.value(4).cmp(b.labels.value(4)));
        let les: Vec<String> = DURATION_BUCKETS
            .iter()
            .map(|b| {
                let mut le = String::new();
                push_value(&mut le, *b);
                le
            })
            .collect();
        let mut w = Writer {
            out,
            flush,
            ok: true,
        };
        w.gauge(
            &entries,
            "commwatch_probe_success",
            "1 if the last probe of the target passed its checks, else 0",
            |d| Some(f64::from(u8::from(d.success))),
        );
        w.family(
            &entries,
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
            &entries,
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
            &entries,
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
        w.family(
            &entries,
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
            &entries,
            "commwatch_target_flapping",
            "1 while the target is flapping",
            |d| Some(f64::from(u8::from(d.flapping))),
        );
        w.gauge(
            &entries,
            "commwatch_http_status_code",
            "Status code of the last HTTP answer (after redirects)",
            |d| d.http_status.map(f64::from),
        );
        w.gauge(
            &entries,
            "commwatch_icmp_loss_ratio",
            "Share of echo requests lost in the last ICMP burst, 0 to 1",
            |d| d.icmp.as_ref().map(|i| i.loss),
        );
        w.family(
            &entries,
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
            &entries,
            "commwatch_tls_cert_expiry_timestamp_seconds",
            "Unix time of the earliest certificate end date in the chain the server presented",
            |d| d.tls_expiry,
        );
        w.ok
    }
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

struct Writer<'a> {
    out: &'a mut String,
    flush: &'a mut dyn FnMut(&mut String) -> bool,
    /// False once the reader went away: the rest is skipped.
    ok: bool,
}

impl Writer<'_> {
    /// One family: its HELP and TYPE lines before its first series (none if it has no
    /// series, as the prometheus crate does), then `series` for every target.
    fn family(
        &mut self,
        entries: &[Arc<Entry>],
        name: &str,
        kind: &str,
        help: &str,
        series: impl Fn(&mut Writer<'_>, &Labels, &Data),
    ) {
        let mut header = false;
        for e in entries {
            if !self.ok {
                return;
            }
            let d = e.lock();
            let before = self.out.len();
            if !header {
                let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
            }
            let start = self.out.len();
            series(self, &e.labels, &d);
            drop(d);
            if self.out.len() == start {
                // Nothing for this target: take the header back until a target has series.
                self.out.truncate(before);
                continue;
            }
            header = true;
            if self.out.len() >= CHUNK {
                self.ok = (self.flush)(self.out);
            }
        }
    }

    /// A gauge family with one series per target that has a value.
    fn gauge(
        &mut self,
        entries: &[Arc<Entry>],
        name: &str,
        help: &str,
        value: impl Fn(&Data) -> Option<f64>,
    ) {
        self.family(entries, name, "gauge", help, |w, l, d| {
            if let Some(v) = value(d) {
                w.line(name, l, None, v);
            }
        });
    }

    fn line(&mut self, name: &str, labels: &Labels, extra: Option<(&str, &str)>, v: f64) {
        self.out.push_str(name);
        labels.write(self.out, extra);
        self.out.push(' ');
        push_value(self.out, v);
        self.out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn targets(n: usize) -> Vec<std::sync::Arc<Target>> {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!(
                "[[targets]]\nid = \"t{i:05}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n\
                 operator = \"vnpt\"\nprovince = \"Hà Tĩnh\"\ncommune = \"Kỳ \\\"Anh\\\" \\\\ {i}\"\n"
            ));
        }
        Config::from_str_at(std::path::Path::new("m.toml"), &text)
            .unwrap()
            .targets
    }

    fn render(f: &TargetFamilies) -> String {
        let mut out = String::new();
        assert!(f.render(&mut out, &mut |_| true));
        out
    }

    #[test]
    fn labels_are_escaped_and_sorted_with_the_extra_label_in_place() {
        let t = &targets(1)[0];
        let f = TargetFamilies::default();
        f.register(t);
        f.observe_probe(t, false, 0.2, Some("timeout"));
        let text = render(&f);
        let base = r#"commune="Kỳ \"Anh\" \\ 0",kind="tcp",operator="vnpt",province="Hà Tĩnh""#;
        for line in [
            format!("commwatch_probe_success{{{base},target=\"t00000\"}} 0"),
            format!("commwatch_probe_errors_total{{code=\"timeout\",{base},target=\"t00000\"}} 1"),
            format!("commwatch_probes_total{{{base},result=\"failure\",target=\"t00000\"}} 1"),
            format!("commwatch_target_state{{{base},state=\"unknown\",target=\"t00000\"}} 1"),
            format!("commwatch_target_state{{{base},state=\"down\",target=\"t00000\"}} 0"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(text.contains(
            "commwatch_probe_duration_seconds_bucket{commune=\"Kỳ \\\"Anh\\\" \\\\ 0\",kind=\"tcp\",le=\"0.25\",operator="
        ));
    }

    #[test]
    fn the_histogram_is_cumulative_and_counts_every_probe() {
        let t = &targets(1)[0];
        let f = TargetFamilies::default();
        f.register(t);
        for s in [0.004, 0.01, 0.3, 7.0, 12.0] {
            f.observe_probe(t, true, s, None);
        }
        let text = render(&f);
        let bucket = |le: &str| -> f64 {
            let needle = format!("le=\"{le}\"");
            let line = text
                .lines()
                .find(|l| {
                    l.starts_with("commwatch_probe_duration_seconds_bucket") && l.contains(&needle)
                })
                .unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert_eq!(
            bucket("0.01"),
            2.0,
            "0.004 and 0.01 (the bound is inclusive)"
        );
        assert_eq!(bucket("0.25"), 2.0);
        assert_eq!(bucket("0.5"), 3.0);
        assert_eq!(bucket("10"), 4.0);
        assert_eq!(bucket("+Inf"), 5.0, "12 s is beyond every bucket");
        assert!(
            text.lines()
                .any(|l| l.starts_with("commwatch_probe_duration_seconds_count{")
                    && l.ends_with(" 5"))
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("commwatch_probe_duration_seconds_sum{")
                    && l.ends_with(" 19.314"))
        );
        assert!(text.contains("# TYPE commwatch_probe_duration_seconds histogram\n"));
    }

    #[test]
    fn one_state_is_set_and_unregistering_removes_every_series() {
        let ts = targets(2);
        let f = TargetFamilies::default();
        for t in &ts {
            f.register(t);
        }
        f.set_state(&ts[0], State::Down);
        f.set_flapping(&ts[0], true);
        let text = render(&f);
        let ones: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("commwatch_target_state{")
                    && l.contains("t00000")
                    && l.ends_with(" 1")
            })
            .collect();
        assert_eq!(ones.len(), 1, "{ones:?}");
        assert!(ones[0].contains("state=\"down\""));
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("commwatch_target_state{"))
                .count(),
            12,
            "six states for each of two targets"
        );
        f.unregister(&ts[0]);
        let text = render(&f);
        assert!(!text.contains("t00000"));
        assert!(text.contains("t00001"));
        f.unregister(&ts[1]);
        assert_eq!(render(&f), "", "no series, no family headers");
    }

    #[test]
    fn families_without_series_have_no_header() {
        let t = &targets(1)[0];
        let f = TargetFamilies::default();
        f.register(t);
        let text = render(&f);
        assert!(!text.contains("commwatch_http_status_code"));
        assert!(!text.contains("commwatch_icmp_"));
        assert!(!text.contains("commwatch_tls_"));
        assert!(!text.contains("commwatch_probe_errors_total"));
        assert_eq!(text.matches("# TYPE").count(), 5, "{text}");
    }

    #[test]
    fn large_scrapes_come_in_chunks_and_stop_when_the_reader_leaves() {
        let ts = targets(2_000);
        let f = TargetFamilies::default();
        for t in &ts {
            f.register(t);
            f.observe_probe(t, true, 0.05, None);
        }
        let whole = render(&f);
        let mut pieces = Vec::new();
        let mut out = String::new();
        let finished = f.render(&mut out, &mut |buf| {
            pieces.push(std::mem::take(buf));
            true
        });
        assert!(finished);
        pieces.push(out);
        assert!(pieces.len() > 2, "{} pieces", pieces.len());
        assert!(pieces.iter().all(|p| p.len() < CHUNK + 4 * 1024));
        assert_eq!(pieces.concat(), whole);

        let mut calls = 0;
        let mut out = String::new();
        let finished = f.render(&mut out, &mut |buf| {
            calls += 1;
            buf.clear();
            false
        });
        assert!(!finished);
        assert_eq!(calls, 1, "nothing more is rendered once the reader is gone");
    }
}

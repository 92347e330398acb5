//! The per-target metric families (success, duration histogram, probe and error counters,
//! state, flapping, HTTP status, ICMP loss and RTT, certificate expiry, battery runway), held compactly and
//! written to the text format by hand.
//!
//! Why not the prometheus crate's label vectors: at national scale (20,000 targets, about 25
//! series each) they held every series as its own object with its own copies of the label
//! pairs, and every scrape built all of them again as protobuf-shaped structures before
//! encoding — together several hundred megabytes, most of the daemon's memory. Here a target
//! is one small struct behind its own lock, and a scrape writes text in chunks that the web
//! layer streams out, so neither grows with the number of series.
//!
//! This file holds the series and takes the updates; `text` is the exposition format and
//! `families` says what each family writes.

mod families;
#[cfg(test)]
mod tests;
mod text;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::config::Target;
use crate::probe::{ErrorCode, Observation};
use crate::state::State;
use text::{Labels, Writer};

/// Probe duration buckets for WAN paths, in seconds: a probe inside the country answers in
/// tens of milliseconds, a congested 3G backhaul in seconds, and a probe that reaches its
/// timeout (10 s by default) lands at the top. Ten buckets keep the family readable by
/// `histogram_quantile` while 20,000 targets still make a scrape Prometheus can ingest.
pub const DURATION_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The RTT statistics exported per ICMP target: a closed set, so the label stays bounded.
pub const RTT_STATS: [&str; 5] = ["min", "avg", "median", "max", "jitter"];

/// A scrape is handed out in pieces of about this size.
pub const CHUNK: usize = 256 * 1024;

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
    /// Seconds of battery left, while a UPS target is on battery.
    battery_runway: Option<f64>,
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
            battery_runway: None,
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
        if f.http_status.is_none()
            && f.icmp.is_none()
            && f.tls.is_none()
            && f.snmp.is_none()
            && f.heartbeat.is_none()
        {
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
        // Back on mains, no forecast, or a UPS that stopped answering (its battery may be
        // what ran out): the series goes rather than keep a stale runway.
        d.battery_runway = f.power().and_then(|u| u.runway).map(|r| r.as_secs_f64());
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
        // By target id, so every scrape lists the series in the same order.
        entries.sort_unstable_by(|a, b| a.labels.value(4).cmp(b.labels.value(4)));
        let mut w = Writer {
            out,
            flush,
            ok: true,
        };
        families::probes(&mut w, &entries);
        families::state(&mut w, &entries);
        families::facts(&mut w, &entries);
        w.ok
    }
}

//! Every Prometheus metric family commwatch exports, in one place. Labels are bounded: target
//! ids and config labels (known at load), error codes and states from closed enums — never URLs
//! or error text.
//!
//! The families with one series per target live in [`targets`]: held compactly and written by
//! hand, since at national scale they are most of the output.

mod registry;
mod targets;

use std::sync::Arc;

use prometheus::{
    Gauge, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry, TextEncoder,
};

use crate::config::Target;
use crate::state::State;

pub use targets::{DURATION_BUCKETS, RTT_STATS, TargetFamilies};

/// Labels that identify a target on every per-target family.
pub const TARGET_LABELS: [&str; 5] = ["target", "kind", "operator", "province", "commune"];

/// Scheduling lateness: how long after its planned time a probe actually started. A healthy
/// scheduler is late by well under a millisecond (timer granularity), so the buckets start at
/// 100 µs to make p50/p99 readable; the top ones bound the worst case under overload.
const LATENESS_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Success, duration, probes, errors, state, flapping and probe facts of every target.
    pub per_target: Arc<TargetFamilies>,
    pub targets: IntGauge,
    pub schedule_lateness: HistogramVec,
    pub probes_in_flight: IntGauge,
    pub store_queue_depth: IntGauge,
    pub store_degraded: IntGauge,
    pub store_backlog: IntGauge,
    pub store_rows_written: IntCounter,
    pub store_rows_dropped: IntCounter,
    pub store_commit_seconds: Gauge,
    pub store_write_failures: IntCounter,
    pub store_info: IntGaugeVec,
    pub instance_info: IntGaugeVec,
    pub incidents_open: IntGauge,
    pub monitor_isolated: IntGauge,
    pub alert_events_total: IntCounterVec,
    pub alert_messages_total: IntCounterVec,
    pub alert_deliveries_total: IntCounterVec,
    pub alert_delivery_seconds: HistogramVec,
    pub alert_queue_depth: IntGaugeVec,
    pub alert_dead_letters: IntGaugeVec,
    pub drills_active: IntGauge,
    pub drill_targets_in_scope: IntGauge,
    pub config_last_reload_successful: IntGauge,
    pub config_last_reload_success_timestamp: Gauge,
    pub config_reloads_total: IntCounterVec,
    pub build_info: IntGaugeVec,
}

impl Metrics {
    /// Builds the registry. Registration only fails on a duplicate or malformed family, which
    /// would be a programming error caught by every test that constructs `Metrics`.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let scheduling = registry::Scheduling::register(&registry)?;
        let store = registry::Store::register(&registry)?;
        let watch = registry::Watch::register(&registry)?;
        let alerting = registry::Alerting::register(&registry)?;
        let drills = registry::Drills::register(&registry)?;
        let process = registry::Process::register(&registry)?;
        process
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(Metrics {
            registry,
            per_target: Arc::new(TargetFamilies::default()),
            targets: scheduling.targets,
            schedule_lateness: scheduling.schedule_lateness,
            probes_in_flight: scheduling.probes_in_flight,
            store_queue_depth: store.store_queue_depth,
            store_degraded: store.store_degraded,
            store_backlog: store.store_backlog,
            store_rows_written: store.store_rows_written,
            store_rows_dropped: store.store_rows_dropped,
            store_commit_seconds: store.store_commit_seconds,
            store_write_failures: store.store_write_failures,
            store_info: store.store_info,
            instance_info: process.instance_info,
            incidents_open: watch.incidents_open,
            monitor_isolated: watch.monitor_isolated,
            alert_events_total: alerting.alert_events_total,
            alert_messages_total: alerting.alert_messages_total,
            alert_deliveries_total: alerting.alert_deliveries_total,
            alert_delivery_seconds: alerting.alert_delivery_seconds,
            alert_queue_depth: alerting.alert_queue_depth,
            alert_dead_letters: alerting.alert_dead_letters,
            drills_active: drills.drills_active,
            drill_targets_in_scope: drills.drill_targets_in_scope,
            config_last_reload_successful: process.config_last_reload_successful,
            config_last_reload_success_timestamp: process.config_last_reload_success_timestamp,
            config_reloads_total: process.config_reloads_total,
            build_info: process.build_info,
        })
    }

    /// Creates every series of a target at zero (state unknown), so dashboards see the target
    /// before its first probe and `rate()` has a starting point.
    pub fn register_target(&self, t: &Target) {
        self.per_target.register(t);
    }

    /// Removes every series of a target (it left the configuration or its labels changed), so
    /// dashboards do not show ghosts.
    pub fn unregister_target(&self, t: &Target) {
        self.per_target.unregister(t);
    }

    pub fn set_flapping(&self, t: &Target, flapping: bool) {
        self.per_target.set_flapping(t, flapping);
    }

    pub fn observe_probe(&self, t: &Target, ok: bool, seconds: f64, code: Option<&str>) {
        self.per_target.observe_probe(t, ok, seconds, code);
    }

    /// Exports the facts of one observation that dashboards chart: HTTP status, ICMP loss and
    /// RTT, certificate expiry. A fact the probe did not learn leaves its series as it was.
    pub fn observe_facts(&self, t: &Target, obs: &crate::probe::Observation) {
        self.per_target.observe_facts(t, obs);
    }

    pub fn set_state(&self, t: &Target, state: State) {
        self.per_target.set_state(t, state);
    }

    /// Drills running now and the targets they cover (a target in the scope of two drills
    /// counts once), set by the drill module whenever a drill starts or ends.
    pub fn set_drills(&self, active: usize, targets_in_scope: usize) {
        // Saturating: a count beyond i64::MAX cannot happen, but must not wrap negative.
        self.drills_active
            .set(i64::try_from(active).unwrap_or(i64::MAX));
        self.drill_targets_in_scope
            .set(i64::try_from(targets_in_scope).unwrap_or(i64::MAX));
    }

    /// The text exposition format served at `/metrics`, handed to `sink` in pieces of about
    /// [`targets::CHUNK`] bytes, so a scrape of 20,000 targets never holds its whole text.
    /// Stops early (returning `Ok(false)`) when `sink` returns false: the reader went away.
    pub fn render_chunks(
        &self,
        sink: &mut dyn FnMut(String) -> bool,
    ) -> Result<bool, prometheus::Error> {
        let mut out = String::with_capacity(targets::CHUNK + 4 * 1024);
        TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out)?;
        let mut flush = |buf: &mut String| {
            let full = std::mem::replace(buf, String::with_capacity(targets::CHUNK + 4 * 1024));
            sink(full)
        };
        if !self.per_target.render(&mut out, &mut flush) {
            return Ok(false);
        }
        Ok(out.is_empty() || sink(out))
    }

    /// The whole text exposition format at once (tests, small inventories).
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut all = String::new();
        self.render_chunks(&mut |chunk| {
            all.push_str(&chunk);
            true
        })?;
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::probe::{Facts, IcmpFacts, Observation, Phases};
    use std::time::Duration;

    #[test]
    fn drill_gauges_are_exported_from_the_start_and_follow_the_setter() {
        let m = Metrics::new().unwrap();
        // (drills active, targets in scope) as rendered in /metrics.
        let rendered = || -> (Option<String>, Option<String>) {
            let text = m.render().unwrap();
            let value = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_string))
            };
            (
                value("commwatch_drills_active"),
                value("commwatch_drill_targets_in_scope"),
            )
        };
        let pair = |a: &str, b: &str| (Some(a.to_string()), Some(b.to_string()));
        assert_eq!(rendered(), pair("0", "0"));
        m.set_drills(1, 138);
        assert_eq!(rendered(), pair("1", "138"));
        m.set_drills(0, 0);
        assert_eq!(rendered(), pair("0", "0"));
    }

    #[test]
    fn probe_facts_become_bounded_series() {
        let cfg = Config::from_str_at(
            std::path::Path::new("m.toml"),
            "[[targets]]\nid = \"bts\"\nkind = \"icmp\"\nhost = \"127.0.0.1\"\nprovince = \"Hà Tĩnh\"\n",
        )
        .unwrap();
        let t = &cfg.targets[0];
        let m = Metrics::new().unwrap();
        let mut obs = Observation {
            kind: "icmp",
            started_at: crate::time::now_ms(),
            duration: Duration::from_millis(900),
            error: None,
            error_detail: None,
            phases: Phases::default(),
            facts: Facts {
                http_status: Some(503),
                icmp: Some(IcmpFacts {
                    address: [127, 0, 0, 1].into(),
                    socket: "raw",
                    sent: 5,
                    received: 3,
                    loss: 0.4,
                    rtt_min: Some(Duration::from_millis(10)),
                    rtt_avg: Some(Duration::from_millis(20)),
                    rtt_median: Some(Duration::from_millis(20)),
                    rtt_max: Some(Duration::from_millis(30)),
                    jitter: None,
                }),
                ..Facts::default()
            },
        };
        m.observe_facts(t, &obs);
        let text = m.render().unwrap();
        let series =
            |name: &str| -> Vec<&str> { text.lines().filter(|l| l.starts_with(name)).collect() };
        assert_eq!(series("commwatch_icmp_loss_ratio{").len(), 1);
        assert!(series("commwatch_icmp_loss_ratio{")[0].ends_with(" 0.4"));
        assert!(
            series("commwatch_icmp_rtt_seconds{")
                .iter()
                .any(|l| l.contains("stat=\"median\"") && l.ends_with(" 0.02"))
        );
        assert!(
            !text.contains("stat=\"jitter\""),
            "no jitter without two replies"
        );
        assert!(series("commwatch_http_status_code{")[0].ends_with(" 503"));
        // A later burst with no reply drops the RTT series instead of keeping stale values.
        if let Some(i) = obs.facts.icmp.as_mut() {
            (i.received, i.loss) = (0, 1.0);
            (i.rtt_min, i.rtt_avg, i.rtt_median, i.rtt_max) = (None, None, None, None);
        }
        m.observe_facts(t, &obs);
        let text = m.render().unwrap();
        assert!(!text.contains("commwatch_icmp_rtt_seconds{"));
        assert!(
            text.lines()
                .any(|l| l.starts_with("commwatch_icmp_loss_ratio{") && l.ends_with(" 1"))
        );
    }
}

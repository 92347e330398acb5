//! Every Prometheus metric family commwatch exports, in one place. Labels are bounded: target
//! ids and config labels (known at load), error codes and states from closed enums — never URLs
//! or error text.
//!
//! The families with one series per target live in [`targets`]: held compactly and written by
//! hand, since at national scale they are most of the output.

mod targets;

use std::sync::Arc;

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
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
        let targets = IntGauge::new("commwatch_targets", "Targets in the loaded configuration")?;
        let schedule_lateness = HistogramVec::new(
            HistogramOpts::new(
                "commwatch_schedule_lateness_seconds",
                "How late probes started relative to their schedule",
            )
            .buckets(LATENESS_BUCKETS.to_vec()),
            &["kind"],
        )?;
        let probes_in_flight =
            IntGauge::new("commwatch_probes_in_flight", "Probes running right now")?;
        let store_queue_depth = IntGauge::new(
            "commwatch_store_queue_depth",
            "Samples waiting for the store writer",
        )?;
        let store_degraded = IntGauge::new(
            "commwatch_store_degraded",
            "1 while the database cannot be written and results wait in memory",
        )?;
        let store_backlog = IntGauge::new(
            "commwatch_store_backlog",
            "Rows held in memory because the database could not be written",
        )?;
        let store_rows_written = IntCounter::new(
            "commwatch_store_rows_written_total",
            "Rows (samples, states, incidents) committed to the database",
        )?;
        let store_rows_dropped = IntCounter::new(
            "commwatch_store_rows_dropped_total",
            "Samples dropped because the in-memory backlog was full while the database was unwritable",
        )?;
        let store_commit_seconds = Gauge::new(
            "commwatch_store_commit_seconds",
            "Duration of the store's last committed transaction",
        )?;
        let incidents_open = IntGauge::new("commwatch_incidents_open", "Incidents currently open")?;
        let monitor_isolated = IntGauge::new(
            "commwatch_monitor_isolated",
            "1 while every anchor target fails: this monitor's own link looks cut",
        )?;
        let alert_events_total = IntCounterVec::new(
            Opts::new(
                "commwatch_alert_events_total",
                "State changes considered for alerting, by kind",
            ),
            &["kind"],
        )?;
        let alert_messages_total = IntCounterVec::new(
            Opts::new(
                "commwatch_alert_messages_total",
                "Alert messages queued in the outbox, by receiver",
            ),
            &["receiver"],
        )?;
        let alert_deliveries_total = IntCounterVec::new(
            Opts::new(
                "commwatch_alert_deliveries_total",
                "Alert delivery attempts by receiver and outcome (delivered, retry, dead)",
            ),
            &["receiver", "outcome"],
        )?;
        let alert_delivery_seconds = HistogramVec::new(
            HistogramOpts::new(
                "commwatch_alert_delivery_seconds",
                "Time from queueing an alert message to its delivery",
            )
            .buckets(vec![
                0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3_600.0,
            ]),
            &["receiver"],
        )?;
        let alert_queue_depth = IntGaugeVec::new(
            Opts::new(
                "commwatch_alert_queue_depth",
                "Alert messages waiting for delivery, by receiver",
            ),
            &["receiver"],
        )?;
        let alert_dead_letters = IntGaugeVec::new(
            Opts::new(
                "commwatch_alert_dead_letters",
                "Alert messages a receiver refused (dead letters), by receiver",
            ),
            &["receiver"],
        )?;
        // Unlabelled: at most a handful of drills exist, and the drill id is not a bounded label.
        let drills_active = IntGauge::new("commwatch_drills_active", "Drills running now")?;
        let drill_targets_in_scope = IntGauge::new(
            "commwatch_drill_targets_in_scope",
            "Targets covered by a running drill",
        )?;
        let config_last_reload_successful = IntGauge::new(
            "commwatch_config_last_reload_successful",
            "1 if the last configuration reload succeeded (or none was tried), 0 if it was refused",
        )?;
        let config_last_reload_success_timestamp = Gauge::new(
            "commwatch_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload",
        )?;
        let config_reloads_total = IntCounterVec::new(
            Opts::new(
                "commwatch_config_reloads_total",
                "Configuration reloads, by result",
            ),
            &["result"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new("commwatch_build_info", "Always 1; labels carry the version"),
            &["version"],
        )?;
        for c in [
            Box::new(targets.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(schedule_lateness.clone()),
            Box::new(probes_in_flight.clone()),
            Box::new(store_queue_depth.clone()),
            Box::new(store_degraded.clone()),
            Box::new(store_backlog.clone()),
            Box::new(store_rows_written.clone()),
            Box::new(store_rows_dropped.clone()),
            Box::new(store_commit_seconds.clone()),
            Box::new(incidents_open.clone()),
            Box::new(monitor_isolated.clone()),
            Box::new(alert_events_total.clone()),
            Box::new(alert_messages_total.clone()),
            Box::new(alert_deliveries_total.clone()),
            Box::new(alert_delivery_seconds.clone()),
            Box::new(alert_queue_depth.clone()),
            Box::new(alert_dead_letters.clone()),
            Box::new(drills_active.clone()),
            Box::new(drill_targets_in_scope.clone()),
            Box::new(config_last_reload_successful.clone()),
            Box::new(config_last_reload_success_timestamp.clone()),
            Box::new(config_reloads_total.clone()),
            Box::new(build_info.clone()),
        ] {
            registry.register(c)?;
        }
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(Metrics {
            registry,
            per_target: Arc::new(TargetFamilies::default()),
            targets,
            schedule_lateness,
            probes_in_flight,
            store_queue_depth,
            store_degraded,
            store_backlog,
            store_rows_written,
            store_rows_dropped,
            store_commit_seconds,
            incidents_open,
            monitor_isolated,
            alert_events_total,
            alert_messages_total,
            alert_deliveries_total,
            alert_delivery_seconds,
            alert_queue_depth,
            alert_dead_letters,
            drills_active,
            drill_targets_in_scope,
            config_last_reload_successful,
            config_last_reload_success_timestamp,
            config_reloads_total,
            build_info,
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
            started_at: chrono::Utc::now(),
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

//! Every Prometheus metric family commwatch exports, in one place. Labels are bounded: target
//! ids and config labels (known at load), error codes and states from closed enums — never URLs
//! or error text.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::config::Target;
use crate::state::State;

/// Labels that identify a target on every per-target family.
pub const TARGET_LABELS: [&str; 5] = ["target", "kind", "operator", "province", "commune"];

/// Probe latency buckets for WAN paths: loopback and LAN answer in milliseconds, a congested
/// 3G backhaul in seconds, so the buckets span 5 ms to 30 s.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0,
];

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
    pub probe_success: GaugeVec,
    pub probe_duration: HistogramVec,
    pub probes_total: IntCounterVec,
    pub probe_errors_total: IntCounterVec,
    pub target_state: IntGaugeVec,
    pub targets: IntGauge,
    pub schedule_lateness: HistogramVec,
    pub probes_in_flight: IntGauge,
    pub store_queue_depth: IntGauge,
    pub store_degraded: IntGauge,
    pub build_info: IntGaugeVec,
}

impl Metrics {
    /// Builds the registry. Registration only fails on a duplicate or malformed family, which
    /// would be a programming error caught by every test that constructs `Metrics`.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let probe_success = GaugeVec::new(
            Opts::new(
                "commwatch_probe_success",
                "1 if the last probe of the target passed its checks, else 0",
            ),
            &TARGET_LABELS,
        )?;
        let probe_duration = HistogramVec::new(
            HistogramOpts::new(
                "commwatch_probe_duration_seconds",
                "Duration of probes, from start to verdict",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &TARGET_LABELS,
        )?;
        let mut labels_result = TARGET_LABELS.to_vec();
        labels_result.push("result");
        let probes_total = IntCounterVec::new(
            Opts::new(
                "commwatch_probes_total",
                "Probes run, by result (success or failure)",
            ),
            &labels_result,
        )?;
        let mut labels_code = TARGET_LABELS.to_vec();
        labels_code.push("code");
        let probe_errors_total = IntCounterVec::new(
            Opts::new(
                "commwatch_probe_errors_total",
                "Failed probes by bounded error code",
            ),
            &labels_code,
        )?;
        let mut labels_state = TARGET_LABELS.to_vec();
        labels_state.push("state");
        let target_state = IntGaugeVec::new(
            Opts::new(
                "commwatch_target_state",
                "1 for the state the target is in, 0 for the others (up, degraded, down, unreachable, unknown, maintenance)",
            ),
            &labels_state,
        )?;
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
        let build_info = IntGaugeVec::new(
            Opts::new("commwatch_build_info", "Always 1; labels carry the version"),
            &["version"],
        )?;
        for c in [
            Box::new(probe_success.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(probe_duration.clone()),
            Box::new(probes_total.clone()),
            Box::new(probe_errors_total.clone()),
            Box::new(target_state.clone()),
            Box::new(targets.clone()),
            Box::new(schedule_lateness.clone()),
            Box::new(probes_in_flight.clone()),
            Box::new(store_queue_depth.clone()),
            Box::new(store_degraded.clone()),
            Box::new(build_info.clone()),
        ] {
            registry.register(c)?;
        }
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(Metrics {
            registry,
            probe_success,
            probe_duration,
            probes_total,
            probe_errors_total,
            target_state,
            targets,
            schedule_lateness,
            probes_in_flight,
            store_queue_depth,
            store_degraded,
            build_info,
        })
    }

    fn labels(t: &Target) -> [&str; 5] {
        [
            t.id.as_str(),
            t.kind(),
            t.labels.operator.as_str(),
            t.labels.province.as_str(),
            t.labels.commune.as_str(),
        ]
    }

    /// Creates every series of a target at zero, so dashboards see the target before its first
    /// probe and `rate()` has a starting point.
    pub fn register_target(&self, t: &Target) {
        let l = Self::labels(t);
        self.probe_success.with_label_values(&l).set(0.0);
        for result in ["success", "failure"] {
            let mut lr = l.to_vec();
            lr.push(result);
            self.probes_total.with_label_values(&lr).inc_by(0);
        }
        self.set_state(t, State::Unknown);
    }

    pub fn observe_probe(&self, t: &Target, ok: bool, seconds: f64, code: Option<&str>) {
        let l = Self::labels(t);
        self.probe_success
            .with_label_values(&l)
            .set(if ok { 1.0 } else { 0.0 });
        self.probe_duration.with_label_values(&l).observe(seconds);
        let mut lr = l.to_vec();
        lr.push(if ok { "success" } else { "failure" });
        self.probes_total.with_label_values(&lr).inc();
        if let Some(code) = code {
            let mut lc = l.to_vec();
            lc.push(code);
            self.probe_errors_total.with_label_values(&lc).inc();
        }
    }

    pub fn set_state(&self, t: &Target, state: State) {
        let l = Self::labels(t);
        for s in State::ALL {
            let mut ls = l.to_vec();
            ls.push(s.as_str());
            self.target_state
                .with_label_values(&ls)
                .set(i64::from(s == state));
        }
    }

    /// The text exposition format served at `/metrics`.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::with_capacity(64 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

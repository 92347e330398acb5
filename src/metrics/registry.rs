//! The process-wide metric families (everything but the per-target ones), created and
//! registered by group, in the order the registry has always received them.

use prometheus::core::Collector;
use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use super::LATENESS_BUCKETS;

/// Registers `c` and hands it back. Registration only fails on a duplicate or malformed
/// family, a programming error every test that builds `Metrics` would catch.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    c: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

/// The schedule: how many targets, how late probes start, how many run at once.
pub(super) struct Scheduling {
    pub(super) targets: IntGauge,
    pub(super) schedule_lateness: HistogramVec,
    pub(super) probes_in_flight: IntGauge,
}

impl Scheduling {
    pub(super) fn register(registry: &Registry) -> Result<Scheduling, prometheus::Error> {
        let targets = register(
            registry,
            IntGauge::new("commwatch_targets", "Targets in the loaded configuration")?,
        )?;
        let schedule_lateness = register(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "commwatch_schedule_lateness_seconds",
                    "How late probes started relative to their schedule",
                )
                .buckets(LATENESS_BUCKETS.to_vec()),
                &["kind"],
            )?,
        )?;
        let probes_in_flight = register(
            registry,
            IntGauge::new("commwatch_probes_in_flight", "Probes running right now")?,
        )?;
        Ok(Scheduling {
            targets,
            schedule_lateness,
            probes_in_flight,
        })
    }
}

/// The store writer: its queue, its health while the database is unwritable, its commits.
pub(super) struct Store {
    pub(super) store_queue_depth: IntGauge,
    pub(super) store_degraded: IntGauge,
    pub(super) store_backlog: IntGauge,
    pub(super) store_rows_written: IntCounter,
    pub(super) store_rows_dropped: IntCounter,
    pub(super) store_commit_seconds: Gauge,
    pub(super) store_write_failures: IntCounter,
    pub(super) store_info: IntGaugeVec,
}

impl Store {
    pub(super) fn register(registry: &Registry) -> Result<Store, prometheus::Error> {
        let store_queue_depth = register(
            registry,
            IntGauge::new(
                "commwatch_store_queue_depth",
                "Samples waiting for the store writer",
            )?,
        )?;
        let store_degraded = register(
            registry,
            IntGauge::new(
                "commwatch_store_degraded",
                "1 while the database cannot be written and results wait in memory",
            )?,
        )?;
        let store_backlog = register(
            registry,
            IntGauge::new(
                "commwatch_store_backlog",
                "Rows held in memory because the database could not be written",
            )?,
        )?;
        let store_rows_written = register(
            registry,
            IntCounter::new(
                "commwatch_store_rows_written_total",
                "Rows (samples, states, incidents) committed to the database",
            )?,
        )?;
        let store_rows_dropped = register(
            registry,
            IntCounter::new(
                "commwatch_store_rows_dropped_total",
                "Samples dropped because the in-memory backlog was full while the database was unwritable",
            )?,
        )?;
        let store_commit_seconds = register(
            registry,
            Gauge::new(
                "commwatch_store_commit_seconds",
                "Duration of the store's last committed transaction",
            )?,
        )?;
        let store_write_failures = register(
            registry,
            IntCounter::new(
                "commwatch_store_write_failures_total",
                "Commits that failed because the database could not be written or reached (each is retried; nothing is lost)",
            )?,
        )?;
        let store_info = register(
            registry,
            IntGaugeVec::new(
                prometheus::Opts::new(
                    "commwatch_store_info",
                    "The store's engine (sqlite or postgres), always 1",
                ),
                &["backend"],
            )?,
        )?;
        Ok(Store {
            store_write_failures,
            store_info,
            store_queue_depth,
            store_degraded,
            store_backlog,
            store_rows_written,
            store_rows_dropped,
            store_commit_seconds,
        })
    }
}

/// What the board shows as a whole: open incidents, and whether this monitor itself is cut off.
pub(super) struct Watch {
    pub(super) incidents_open: IntGauge,
    pub(super) monitor_isolated: IntGauge,
}

impl Watch {
    pub(super) fn register(registry: &Registry) -> Result<Watch, prometheus::Error> {
        let incidents_open = register(
            registry,
            IntGauge::new("commwatch_incidents_open", "Incidents currently open")?,
        )?;
        let monitor_isolated = register(
            registry,
            IntGauge::new(
                "commwatch_monitor_isolated",
                "1 while every anchor target fails: this monitor's own link looks cut",
            )?,
        )?;
        Ok(Watch {
            incidents_open,
            monitor_isolated,
        })
    }
}

/// Alerting: events considered, messages queued, deliveries and what waits or was refused.
pub(super) struct Alerting {
    pub(super) alert_events_total: IntCounterVec,
    pub(super) alert_messages_total: IntCounterVec,
    pub(super) alert_deliveries_total: IntCounterVec,
    pub(super) alert_delivery_seconds: HistogramVec,
    pub(super) alert_queue_depth: IntGaugeVec,
    pub(super) alert_dead_letters: IntGaugeVec,
}

impl Alerting {
    pub(super) fn register(registry: &Registry) -> Result<Alerting, prometheus::Error> {
        let alert_events_total = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "commwatch_alert_events_total",
                    "State changes considered for alerting, by kind",
                ),
                &["kind"],
            )?,
        )?;
        let alert_messages_total = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "commwatch_alert_messages_total",
                    "Alert messages queued in the outbox, by receiver",
                ),
                &["receiver"],
            )?,
        )?;
        let alert_deliveries_total = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "commwatch_alert_deliveries_total",
                    "Alert delivery attempts by receiver and outcome (delivered, retry, dead)",
                ),
                &["receiver", "outcome"],
            )?,
        )?;
        let alert_delivery_seconds = register(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "commwatch_alert_delivery_seconds",
                    "Time from queueing an alert message to its delivery",
                )
                .buckets(vec![
                    0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3_600.0,
                ]),
                &["receiver"],
            )?,
        )?;
        let alert_queue_depth = register(
            registry,
            IntGaugeVec::new(
                Opts::new(
                    "commwatch_alert_queue_depth",
                    "Alert messages waiting for delivery, by receiver",
                ),
                &["receiver"],
            )?,
        )?;
        let alert_dead_letters = register(
            registry,
            IntGaugeVec::new(
                Opts::new(
                    "commwatch_alert_dead_letters",
                    "Alert messages a receiver refused (dead letters), by receiver",
                ),
                &["receiver"],
            )?,
        )?;
        Ok(Alerting {
            alert_events_total,
            alert_messages_total,
            alert_deliveries_total,
            alert_delivery_seconds,
            alert_queue_depth,
            alert_dead_letters,
        })
    }
}

/// Drills running now and the targets they cover. Unlabelled: at most a handful of drills
/// exist, and the drill id is not a bounded label.
pub(super) struct Drills {
    pub(super) drills_active: IntGauge,
    pub(super) drill_targets_in_scope: IntGauge,
}

impl Drills {
    pub(super) fn register(registry: &Registry) -> Result<Drills, prometheus::Error> {
        let drills_active = register(
            registry,
            IntGauge::new("commwatch_drills_active", "Drills running now")?,
        )?;
        let drill_targets_in_scope = register(
            registry,
            IntGauge::new(
                "commwatch_drill_targets_in_scope",
                "Targets covered by a running drill",
            )?,
        )?;
        Ok(Drills {
            drills_active,
            drill_targets_in_scope,
        })
    }
}

/// The process itself: configuration reloads and the build.
pub(super) struct Process {
    pub(super) config_last_reload_successful: IntGauge,
    pub(super) config_last_reload_success_timestamp: Gauge,
    pub(super) config_reloads_total: IntCounterVec,
    pub(super) build_info: IntGaugeVec,
    pub(super) instance_info: IntGaugeVec,
}

impl Process {
    pub(super) fn register(registry: &Registry) -> Result<Process, prometheus::Error> {
        let config_last_reload_successful = register(
            registry,
            IntGauge::new(
                "commwatch_config_last_reload_successful",
                "1 if the last configuration reload succeeded (or none was tried), 0 if it was refused",
            )?,
        )?;
        let config_last_reload_success_timestamp = register(
            registry,
            Gauge::new(
                "commwatch_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful configuration load or reload",
            )?,
        )?;
        let config_reloads_total = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "commwatch_config_reloads_total",
                    "Configuration reloads, by result",
                ),
                &["result"],
            )?,
        )?;
        let build_info = register(
            registry,
            IntGaugeVec::new(
                Opts::new("commwatch_build_info", "Always 1; labels carry the version"),
                &["version"],
            )?,
        )?;
        let instance_info = register(
            registry,
            IntGaugeVec::new(
                prometheus::Opts::new(
                    "commwatch_instance_info",
                    "This vantage point's identity from [instance], always 1",
                ),
                // Not `instance`: Prometheus sets that label to the scrape address.
                &["instance_id", "instance_name", "location"],
            )?,
        )?;
        Ok(Process {
            instance_info,
            config_last_reload_successful,
            config_last_reload_success_timestamp,
            config_reloads_total,
            build_info,
        })
    }
}

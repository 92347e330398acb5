//! What a demo run is told: the `commwatch demo` arguments, the options [`super::Demo::start`]
//! takes, and the [`Pace`] every duration of the storm is a multiple of.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{CSV_VARIABLE, DRILL_UNITS, DemoError, QUICK_DURATION, WARMUP_UNITS};

/// The demo's clock: everything is a multiple of one drill interval (`unit`), so a short run
/// is the same storm, faster.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Pace {
    #[serde(serialize_with = "ser_secs")]
    pub unit: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Pace {
    /// The pace that fits warm-up and drill into `total`.
    pub fn for_total(total: Duration) -> Result<Pace, DemoError> {
        let unit = total.div_f64(WARMUP_UNITS + DRILL_UNITS);
        // Millisecond steps keep every duration written to the configuration exact.
        let unit = Duration::from_millis(unit.as_millis() as u64);
        if unit < crate::config::drills::MIN_DRILL_INTERVAL {
            return Err(DemoError::Setup(format!(
                "the demo needs at least {}s (one second per drill interval)",
                WARMUP_UNITS + DRILL_UNITS
            )));
        }
        Ok(Pace { unit })
    }

    pub fn units(&self, n: f64) -> Duration {
        Duration::from_millis((self.unit.as_millis() as f64 * n).round() as u64)
    }

    pub fn warmup(&self) -> Duration {
        self.units(WARMUP_UNITS)
    }

    pub fn drill(&self) -> Duration {
        self.units(DRILL_UNITS)
    }

    /// Probe timeout: well inside one interval, at most 3 s.
    pub fn timeout(&self) -> Duration {
        self.units(0.6).min(Duration::from_secs(3))
    }

    /// Probing interval outside the drill (the warm-up).
    pub fn normal_interval(&self) -> Duration {
        self.units(2.0)
    }

    /// How late a degraded endpoint answers: half the timeout, so it is slow but not failing.
    pub fn slow(&self) -> Duration {
        self.timeout() / 2
    }

    /// Answers slower than this degrade a target.
    pub fn latency_limit(&self) -> Duration {
        self.timeout() / 4
    }

    pub fn heartbeat_grace(&self) -> Duration {
        self.units(0.5)
    }

    /// How often the demo pushes each heartbeat: well within the period.
    pub fn push_every(&self) -> Duration {
        self.units(1.0 / 3.0)
    }
}

/// `commwatch demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Address of the status page, API and /metrics (loopback, or 0.0.0.0 to show it on
    /// the local network).
    #[arg(long, default_value = crate::config::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Total length: a warm-up of 4 drill intervals, then a drill of 48 (at least 52s).
    #[arg(long, default_value = "6m 30s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// A 65-second run (a drill interval of 1.25 s) instead.
    #[arg(long, conflicts_with = "duration")]
    pub quick: bool,
    /// Folder for the store, the generated configuration and the report (default: a new
    /// folder under the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The commune list (default: $COMMWATCH_COMMUNES, else the list built into commwatch).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Exit once the report is written instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit_after_report: bool,
}

/// What [`Demo::start`] needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub duration: Duration,
    pub data: PathBuf,
    /// A commune list to read; `None` is the one built in.
    pub csv: Option<PathBuf>,
}

impl DemoArgs {
    pub fn options(&self) -> Options {
        let data = self.data.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "commwatch-demo-{}-{}",
                crate::time::now_ms().format("%Y%m%d-%H%M%S"),
                std::process::id()
            ))
        });
        let csv = self.csv.clone().or_else(|| {
            std::env::var_os(CSV_VARIABLE)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        Options {
            listen: self.listen,
            duration: if self.quick {
                QUICK_DURATION
            } else {
                self.duration
            },
            data,
            csv,
        }
    }
}

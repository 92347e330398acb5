//! `commwatch demo`: a storm over a simulated province, on loopback, in a few minutes.
//!
//! The demo starts simulated endpoints for every commune of Hà Tĩnh (the inventory's
//! operators and services, the operators' DNS resolvers, and one heartbeat per power zone,
//! which the demo pushes itself), a loopback webhook receiver for the alerts, and the daemon
//! with its status page; after a short warm-up it starts a drill over the province and plays
//! the [`script::storm`]: a power zone loses the grid and, once the batteries run out, every
//! site in it; FPT degrades (some lines fail, the rest answer slowly); Viettel brings its
//! sites back on generators; the grid returns. One commune is dark all along. At the end the
//! drill stops and its report is saved in the data folder.
//!
//! Every address is on 127.0.0.0/8: the demo never sends traffic anywhere else.
//!
//! This file is the running [`Demo`]; `options` is what it is told, `pusher` the heartbeats
//! it sends for the power zones, `command` the `commwatch demo` command around it.

mod command;
mod options;
mod pusher;
pub mod script;
pub mod world;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::Digest;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppError};
use crate::config::drills::{OneOrMany, Scope};
use crate::config::{Config, ConfigErrors};
use crate::drill::client::{Client, ClientError};
use crate::drill::service::{self, DrillError};
use crate::drill::{Drill, NewDrill, NewNote};
use crate::rig::inventory::InventoryError;
use crate::rig::sim::collector::Collector;
use crate::rig::sim::{
    AddrPlan, Behaviour, DEFAULT_MAX_CONNECTIONS, EndpointSpec, Sim, SimError, SimSpec,
};
use crate::shared::AppState;
pub use command::main;
pub use options::{DemoArgs, Options, Pace};
use pusher::Pusher;
use script::{Script, Step};
use world::{ConfigParts, Layout};

/// Consecutive failures before DOWN: low, so a change shows within two drill intervals.
pub const FAILURE_THRESHOLD: u32 = 2;
pub const SUCCESS_THRESHOLD: u32 = 2;
/// The name of the demo's admin token in the configuration.
pub const ADMIN_NAME: &str = "demo";
/// Warm-up before the drill (the drill's baseline), in drill intervals.
pub const WARMUP_UNITS: f64 = 4.0;
/// The drill's length, in drill intervals.
pub const DRILL_UNITS: f64 = 48.0;
/// Default length: a 7.5 s drill interval, long enough to watch the page change live.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(390);
/// `--quick`: the shortest run whose drill interval stays above one second.
pub const QUICK_DURATION: Duration = Duration::from_secs(65);
/// Where the simulated endpoints live: 127.42.x.x (42 is Hà Tĩnh's province code).
pub const SIM_BASE: Ipv4Addr = Ipv4Addr::new(127, 42, 0, 1);
/// The variable that names the commune list.
pub const CSV_VARIABLE: &str = "COMMWATCH_COMMUNES";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("simulator: {0}")]
    Sim(#[from] SimError),
    #[error("the generated configuration was refused:\n{0}")]
    Config(ConfigErrors),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("drill: {0}")]
    Drill(#[from] DrillError),
    #[error("fetching the report: {0}")]
    Client(#[from] ClientError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Setup(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DemoError {
    let what = what.into();
    move |e| DemoError::Io(what, e)
}

/// How the storm actually played.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Played {
    pub drill_id: i64,
    pub drill_started_at: DateTime<Utc>,
    /// When each step was applied (`steps[i]`); shorter than the script when cancelled.
    pub applied: Vec<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    /// Ctrl-C ended the drill early.
    pub cancelled: bool,
}

/// What [`Demo::write_report`] wrote.
#[derive(Debug, Clone, Default)]
pub struct ReportFiles {
    /// The report (HTML in Vietnamese and English, CSV, JSON).
    pub report: Vec<PathBuf>,
    /// The script, when each step played, and the resulting truth per target.
    pub truth: PathBuf,
    /// Every alert the webhook receiver got.
    pub alerts: PathBuf,
}

/// A running demo: simulator, webhook receiver, heartbeat pusher and daemon.
pub struct Demo {
    app: App,
    sim: Sim,
    collector: Collector,
    pusher: Pusher,
    layout: Layout,
    script: Script,
    pace: Pace,
    endpoint_of: HashMap<String, usize>,
    data: PathBuf,
    admin_token: String,
    base: String,
}

fn random_token() -> String {
    let bytes: [u8; 20] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Starts a simulated endpoint for every target, as the script's initial changes leave it;
/// returns the simulator, each target's endpoint index and each target's address.
async fn start_sim(
    layout: &Layout,
    script: &Script,
) -> Result<(Sim, HashMap<String, usize>, BTreeMap<String, String>), DemoError> {
    // Endpoints start as the script's initial changes say (the dark commune).
    let mut initial: HashMap<&str, Behaviour> = HashMap::new();
    for c in &script.initial {
        if let Some(b) = c.action.behaviour() {
            for t in &c.targets {
                initial.insert(t, b);
            }
        }
    }
    let endpoints = layout.endpoints();
    let sim = Sim::start(SimSpec {
        endpoints: endpoints
            .iter()
            .map(|(id, kind)| EndpointSpec {
                kind: *kind,
                behaviour: initial
                    .get(id.as_str())
                    .copied()
                    .unwrap_or(Behaviour::Healthy),
            })
            .collect(),
        plan: AddrPlan::Spread {
            base: SIM_BASE,
            port: 0,
        },
        max_connections: DEFAULT_MAX_CONNECTIONS,
    })
    .await?;
    let endpoint_of: HashMap<String, usize> = endpoints
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.clone(), i))
        .collect();
    let addresses: BTreeMap<String, String> = endpoints
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.clone(), sim.target(i)))
        .collect();
    Ok((sim, endpoint_of, addresses))
}

/// The demo talks to its own daemon over loopback even when it listens on 0.0.0.0 or [::].
fn own_base(local: SocketAddr) -> String {
    let own = match local.ip() {
        IpAddr::V6(v6) if v6.is_unspecified() || v6.is_loopback() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, local.port()))
        }
        _ => SocketAddr::from((Ipv4Addr::LOCALHOST, local.port())),
    };
    format!("http://{own}")
}

/// Waits until `until`, or returns false at once when `cancel` fires.
async fn sleep_or_cancel(until: Instant, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(until) => true,
        _ = cancel.cancelled() => false,
    }
}

impl Demo {
    /// Starts everything and returns once the status page answers. Probing begins at once;
    /// the drill starts after [`Demo::warm_up`].
    pub async fn start(opts: Options) -> Result<Demo, DemoError> {
        crate::install_crypto_provider();
        let pace = Pace::for_total(opts.duration)?;
        let ip = opts.listen.ip();
        if !(ip.is_loopback() || ip.is_unspecified()) {
            return Err(DemoError::Setup(format!(
                "--listen {ip}: the demo serves on a loopback address, or on 0.0.0.0 / [::]"
            )));
        }
        let communes = crate::rig::inventory::communes(opts.csv.as_deref())?;
        let layout = Layout::new(&communes)?;
        let script = script::storm(&layout, &pace)?;

        let (sim, endpoint_of, addresses) = start_sim(&layout, &script).await?;
        let collector = Collector::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;

        std::fs::create_dir_all(&opts.data)
            .map_err(io(format!("creating {}", opts.data.display())))?;
        let heartbeat_token = random_token();
        let admin_token = random_token();
        let config_path = opts.data.join("commwatch-demo.toml");
        let text = layout.config(&ConfigParts {
            listen: opts.listen.to_string(),
            storage_path: opts.data.join("commwatch.db").display().to_string(),
            pace: &pace,
            addresses: &addresses,
            heartbeat_token: &heartbeat_token,
            webhook_url: collector.url("/alerts"),
            admin_sha256: sha256_hex(&admin_token),
        })?;
        std::fs::write(&config_path, &text)
            .map_err(io(format!("writing {}", config_path.display())))?;
        let config = Config::from_str_at(&config_path, &text).map_err(DemoError::Config)?;

        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| AppError::Listen(opts.listen, e))?;
        let app = App::start_with_listener(config, listener).await?;
        let base = own_base(app.local_addr());
        let pusher = Pusher::start(
            &base,
            layout.zones.iter().map(|z| z.id.clone()).collect(),
            heartbeat_token,
            pace.push_every(),
        )?;
        let demo = Demo {
            app,
            sim,
            collector,
            pusher,
            layout,
            script,
            pace,
            endpoint_of,
            data: opts.data,
            admin_token,
            base,
        };
        // A drill left running by an earlier demo on the same folder would hold the targets.
        for d in demo.state().drills.running().iter() {
            service::stop(
                demo.state(),
                d.id,
                Some(ADMIN_NAME),
                "stopped",
                crate::time::now_ms(),
            )
            .await?;
        }
        Ok(demo)
    }

    pub fn state(&self) -> &AppState {
        &self.app.state
    }

    /// The address the status page listens on.
    pub fn addr(&self) -> SocketAddr {
        self.app.local_addr()
    }

    /// The status page's URL as the demo itself reaches it (loopback).
    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn script(&self) -> &Script {
        &self.script
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn pace(&self) -> Pace {
        self.pace
    }

    pub fn collector(&self) -> &Collector {
        &self.collector
    }

    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The admin token of this run (sign in on the page with it).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Lets every target be probed a couple of times (the drill's baseline); false when
    /// cancelled.
    pub async fn warm_up(&self, cancel: &CancellationToken) -> bool {
        sleep_or_cancel(Instant::now() + self.pace.warmup(), cancel).await
    }

    /// Starts the drill over the province.
    pub async fn start_drill(&self) -> Result<Drill, DemoError> {
        let mut scope = BTreeMap::new();
        scope.insert(
            "province".to_string(),
            OneOrMany::One(self.layout.province.clone()),
        );
        let scope = Scope::parse(&scope).map_err(DemoError::Setup)?;
        let zone = self.layout.zones.last().map_or("", |z| z.area.as_str());
        let new = NewDrill {
            name: format!(
                "Diễn tập ứng phó bão — tỉnh {} (mô phỏng)",
                self.layout.province
            ),
            scenario: format!(
                "Bão mạnh đổ bộ vào ven biển phía nam tỉnh {p}. Mất điện lưới {zone}; các trạm chạy \
                 ắc quy rồi mất liên lạc. FPT suy giảm chất lượng trên toàn tỉnh. {dark} bị cô lập \
                 do sạt lở. Mục tiêu: phát hiện sự cố, cảnh báo kịp thời và đo thời gian khôi phục \
                 của từng nhà mạng, từng xã. (Kịch bản mô phỏng của commwatch demo, mọi điểm đo \
                 chạy trên loopback.)",
                p = self.layout.province,
                dark = self.layout.dark_commune_full,
            ),
            scope,
            leaders: vec![
                "Trưởng ban chỉ huy diễn tập (Sở Khoa học và Công nghệ)".into(),
                "Trực ban thông tin liên lạc".into(),
            ],
            interval: self.pace.unit,
            // A margin past the scripted end: the demo stops the drill itself, and the planned
            // end only matters if the demo is killed midway.
            duration: self.pace.drill() + self.pace.units(2.0),
            baseline: self.pace.warmup(),
            planned_start: None,
            schedule_key: None,
        };
        Ok(service::start(self.state(), new, ADMIN_NAME, crate::time::now_ms()).await?)
    }

    async fn apply(&self, drill: &Drill, step: &Step) -> Result<DateTime<Utc>, DemoError> {
        for c in &step.changes {
            match c.action.behaviour() {
                Some(b) => {
                    for t in &c.targets {
                        let i = self.endpoint_of.get(t).copied().ok_or_else(|| {
                            DemoError::Setup(format!("no simulated endpoint for {t}"))
                        })?;
                        self.sim.set(i, b).await?;
                    }
                }
                None => {
                    let pushing = c.action == script::Action::Heartbeat;
                    for t in &c.targets {
                        self.pusher.set(t, pushing);
                    }
                }
            }
        }
        let at = crate::time::now_ms();
        if let Some(n) = &step.note {
            let until = n.until.and_then(|u| chrono::Duration::from_std(u).ok());
            service::add_note(
                self.state(),
                drill.id,
                NewNote {
                    at,
                    author: n.author.clone(),
                    text: n.text.clone(),
                    expected_targets: n.expect_down.clone(),
                    expected_until: until.map(|u| drill.started_at + u),
                },
            )
            .await?;
        }
        Ok(at)
    }

    /// Plays every step on time, then stops the drill at its scripted end (or at once when
    /// `cancel` fires). `echo` prints each step as it plays.
    pub async fn play(
        &self,
        drill: &Drill,
        cancel: &CancellationToken,
        echo: bool,
    ) -> Result<Played, DemoError> {
        let t0 = Instant::now();
        let mut applied = Vec::with_capacity(self.script.steps.len());
        let mut cancelled = false;
        for step in &self.script.steps {
            if !sleep_or_cancel(t0 + step.at, cancel).await {
                cancelled = true;
                break;
            }
            applied.push(self.apply(drill, step).await?);
            if echo {
                let s = step.at.as_secs();
                println!("[+{:02}:{:02}] {}", s / 60, s % 60, step.summary);
                if let Some(n) = &step.note {
                    println!("          {}: {}", n.author, n.text);
                }
            }
        }
        if !cancelled && !sleep_or_cancel(t0 + self.script.drill, cancel).await {
            cancelled = true;
        }
        let stopped = service::stop(
            self.state(),
            drill.id,
            Some(ADMIN_NAME),
            "stopped",
            crate::time::now_ms(),
        )
        .await?;
        if echo {
            let s = self.script.drill.as_secs();
            println!("[+{:02}:{:02}] drill ended", s / 60, s % 60);
        }
        Ok(Played {
            drill_id: drill.id,
            drill_started_at: drill.started_at,
            applied,
            ended_at: stopped.ended_at.unwrap_or_else(crate::time::now_ms),
            cancelled,
        })
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, DemoError> {
        let path = self.data.join(name);
        std::fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))?;
        Ok(path)
    }

    fn write_json<T: serde::Serialize>(&self, name: &str, v: &T) -> Result<PathBuf, DemoError> {
        let text = serde_json::to_vec_pretty(v)
            .map_err(|e| DemoError::Setup(format!("cannot write {name}: {e}")))?;
        self.write(name, &text)
    }

    /// Saves the drill's report (fetched from the daemon's own pages), the truth of the storm
    /// and the alerts received into the data folder.
    pub async fn write_report(&self, played: &Played) -> Result<ReportFiles, DemoError> {
        let id = played.drill_id;
        let client = Client::new(&self.base, Some(self.admin_token.clone()))?;
        let mut files = ReportFiles::default();
        for (format, lang, name) in [
            ("html", "vi", format!("drill-{id}.html")),
            ("html", "en", format!("drill-{id}.en.html")),
            ("csv", "vi", format!("drill-{id}.csv")),
            ("json", "vi", format!("drill-{id}.json")),
        ] {
            let text = client.report(id, format, lang).await?;
            files.report.push(self.write(&name, text.as_bytes())?);
        }
        let truth = serde_json::json!({
            "drill_id": id,
            "pace": self.pace,
            "played": played,
            "script": self.script,
            "zones": self.layout.zones,
            "dark_commune": self.layout.dark_commune,
            "truth": self.script.truth(played.drill_started_at, &played.applied, played.ended_at),
        });
        files.truth = self.write_json(&format!("storm-{id}.json"), &truth)?;
        files.alerts = self.write_json(&format!("alerts-{id}.json"), &self.collector.received())?;
        Ok(files)
    }

    /// Stops the heartbeats, the daemon (in its own order), the webhook receiver and the
    /// simulator.
    pub async fn shutdown(self) {
        self.pusher.stop().await;
        self.app.shutdown().await;
        self.collector.shutdown().await;
        self.sim.shutdown().await;
    }
}

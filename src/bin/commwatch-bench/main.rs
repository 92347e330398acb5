//! `commwatch-bench`: the benchmark harness. It starts simulated endpoints on loopback, runs
//! commwatch (its prober, or the daemon as a child process) and the peers from Debian against
//! them, measures with the operating system's accounting, and reports Markdown and JSON.
//! `bench/run.sh` is the one command people run; see `BENCHMARKS.md`.
//!
//! Every load is bounded in count and time and aimed only at 127.0.0.0/8.

mod daemon;
mod load;
mod os;
mod peers;
mod probe_cost;
mod procs;
mod promtext;
mod report;
mod scale;
mod silence;
mod storm;
mod sweep;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use commwatch::rig::sim::{AddrPlan, Behaviour, EndpointKind, EndpointSpec, Sim, SimSpec};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Child(String),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Inventory(#[from] commwatch::rig::inventory::InventoryError),
    #[error(transparent)]
    Sim(#[from] commwatch::rig::sim::SimError),
    #[error(transparent)]
    Prober(#[from] commwatch::probe::ProberError),
}

impl BenchError {
    pub fn io(what: &str, e: std::io::Error) -> BenchError {
        BenchError::Io(what.to_string(), e)
    }
}

/// What every scenario needs.
pub struct Ctx {
    pub quick: bool,
    pub commwatch_bin: PathBuf,
    pub blackbox_bin: Option<PathBuf>,
    /// A commune list to read; `None` is the one built in.
    pub csv: Option<PathBuf>,
    /// A scratch folder, removed at the end.
    pub work: PathBuf,
}

/// The median (mean of the middle two for an even count); 0 for nothing.
pub fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[derive(Parser)]
#[command(
    name = "commwatch-bench",
    about = "Benchmark harness for commwatch (normally started by bench/run.sh)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenarios and print the report.
    Run {
        /// Short windows and single runs: about three minutes, to check the harness works.
        #[arg(long)]
        quick: bool,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench/out/latest.json")]
        out: PathBuf,
        /// Also replace the table in this Markdown file (between its bench markers).
        #[arg(long)]
        doc: Option<PathBuf>,
        /// The commune list.
        /// A commune list to read instead of the one built in.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// The commwatch binary (default: next to this one).
        #[arg(long)]
        commwatch: Option<PathBuf>,
        /// Scenarios to run: probe-cost, sweep, scale, storm (default: all).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Recorded in the report as the command that produced it.
        #[arg(long, default_value = "commwatch-bench run")]
        label: String,
    },
    /// Hold one inventory's simulator and daemon for a while, reporting CPU and memory every
    /// five seconds (and the daemon's address, to look at its pages).
    Soak {
        /// http1000, ha-tinh or national.
        #[arg(long, default_value = "national")]
        set: String,
        /// Probe interval in seconds (the timeout is half of it, at most 10 s).
        #[arg(long, default_value_t = 10)]
        interval: u64,
        #[arg(long, default_value_t = 120)]
        secs: u64,
        /// Read /metrics every this many seconds (default: never).
        #[arg(long)]
        scrape_every: Option<u64>,
        /// A commune list to read instead of the one built in.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        #[arg(long)]
        commwatch: Option<PathBuf>,
    },
    /// Print a configuration for one province (or the country) with illustrative addresses
    /// (under `.example.invalid`, resolvers in 192.0.2.0/24), e.g. for config/ha-tinh.toml.
    /// Such a file is never probed.
    Inventory {
        /// A province code or name ("42", "Hà Tĩnh"), or "country".
        #[arg(long, default_value = "42")]
        scope: String,
        #[arg(long, default_value = "commwatch-data/commwatch.db")]
        storage: String,
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        interval: Duration,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// A commune list to read instead of the one built in.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
    /// Internal: serve simulated endpoints until stdin closes.
    #[command(hide = true)]
    SimServe {
        #[arg(long)]
        base: Ipv4Addr,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        layout: String,
        #[arg(long, default_value_t = 0)]
        slow_ms: u64,
    },
    /// Internal: sweep loopback addresses with commwatch's ICMP probe when told to.
    #[command(hide = true)]
    SweepWorker {
        #[arg(long)]
        hosts: u32,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        interval_ms: f64,
        #[arg(long)]
        period_ms: u64,
    },
    /// Internal: run paced probes with commwatch's prober when told to.
    #[command(hide = true)]
    Load {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        target: String,
        #[arg(long)]
        probes: u64,
        #[arg(long)]
        rate: f64,
        #[arg(long)]
        concurrency: usize,
    },
}

/// The whole harness is bounded: past this the run is abandoned.
const HARNESS_LIMIT: Duration = Duration::from_secs(45 * 60);

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The harness's own HTTP clients need rustls' provider like commwatch's do.
    commwatch::install_crypto_provider();
    let nofile = match commwatch::limits::raise_nofile() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("commwatch-bench: cannot read the open-files limit: {e}");
            0
        }
    };
    let r = match cli.command {
        Command::SimServe {
            base,
            port,
            layout,
            slow_ms,
        } => sim_serve(base, port, &layout, slow_ms, nofile).await,
        Command::Load {
            kind,
            target,
            probes,
            rate,
            concurrency,
        } => probe_cost::worker(&kind, &target, probes, rate, concurrency).await,
        Command::SweepWorker {
            hosts,
            count,
            interval_ms,
            period_ms,
        } => sweep::worker(hosts, count, interval_ms, period_ms).await,
        Command::Inventory {
            scope,
            storage,
            interval,
            timeout,
            csv,
        } => print_inventory(&scope, storage, interval, timeout, csv.as_deref()),
        Command::Soak {
            set,
            interval,
            secs,
            scrape_every,
            csv,
            commwatch,
        } => {
            soak(
                &set,
                interval,
                secs.min(3_600),
                scrape_every,
                csv,
                commwatch,
            )
            .await
        }
        Command::Run {
            quick,
            out,
            doc,
            csv,
            commwatch,
            only,
            label,
        } => {
            match tokio::time::timeout(
                HARNESS_LIMIT,
                run(
                    quick,
                    &out,
                    doc.as_deref(),
                    csv,
                    commwatch,
                    &only,
                    label,
                    nofile,
                ),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(BenchError::Child(format!(
                    "the harness ran past its limit of {HARNESS_LIMIT:?}"
                ))),
            }
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("commwatch-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    quick: bool,
    out: &Path,
    doc: Option<&Path>,
    csv: Option<PathBuf>,
    commwatch: Option<PathBuf>,
    only: &[String],
    label: String,
    nofile: u64,
) -> Result<(), BenchError> {
    let began = Instant::now();
    let started_at = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let ctx = context(quick, csv, commwatch)?;
    let machine = report::Machine::probe(ctx.blackbox_bin.as_deref(), nofile);
    let wants = |s: &str| only.is_empty() || only.iter().any(|o| o == s);

    let result = async {
        let probe_cost = if wants("probe-cost") {
            probe_cost::run(&ctx).await?
        } else {
            Vec::new()
        };
        let sweep = if wants("sweep") {
            sweep::run(&ctx).await?
        } else {
            Vec::new()
        };
        let mut scale_rows = Vec::new();
        if wants("scale") {
            for case in scale::cases(quick) {
                scale_rows.push(scale::run(&ctx, &case).await?);
            }
        }
        let storm = if wants("storm") {
            Some(storm::run(&ctx).await?)
        } else {
            None
        };
        Ok::<_, BenchError>((probe_cost, sweep, scale_rows, storm))
    }
    .await;
    let _ = std::fs::remove_dir_all(&ctx.work);
    let (probe_cost, sweep, scale, storm) = result?;

    let report = report::Report {
        mode: if quick { "quick" } else { "full" },
        command: label,
        started_at,
        duration_s: began.elapsed().as_secs_f64(),
        machine,
        probe_cost,
        sweep,
        scale,
        storm,
    };
    let md = report.markdown();
    println!("{md}");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io("creating the out dir", e))?;
    }
    std::fs::write(out, serde_json::to_string_pretty(&report)?)
        .map_err(|e| BenchError::io("writing the JSON report", e))?;
    eprintln!("commwatch-bench: JSON report in {}", out.display());
    if let Some(doc) = doc {
        report::update_doc(doc, &md)?;
        eprintln!("commwatch-bench: table updated in {}", doc.display());
    }
    Ok(())
}

fn print_inventory(
    scope: &str,
    storage_path: String,
    interval: Duration,
    timeout: Duration,
    csv: Option<&Path>,
) -> Result<(), BenchError> {
    use commwatch::rig::inventory::{self, Scope, TomlSettings};
    let all = inventory::communes(csv)?;
    let scope = if scope == "country" {
        Scope::Country
    } else {
        Scope::Province(scope.to_string())
    };
    let inv = inventory::build(&all, &scope)?;
    let settings = TomlSettings {
        header: vec![
            "Generated by `commwatch-bench inventory`. Every address is illustrative (names".into(),
            "under .example.invalid, which never resolve; resolvers in 192.0.2.0/24, a".into(),
            "documentation network nothing routes): replace them with real endpoints.".into(),
        ],
        storage_path,
        interval,
        timeout,
        ..TomlSettings::default()
    };
    print!("{}", inv.illustrative_toml(&settings));
    Ok(())
}

/// Checks the inputs and makes the scratch folder.
fn context(
    quick: bool,
    csv: Option<PathBuf>,
    commwatch: Option<PathBuf>,
) -> Result<Ctx, BenchError> {
    let commwatch_bin = match commwatch {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| BenchError::io("locating myself", e))?
            .with_file_name("commwatch"),
    };
    if !commwatch_bin.is_file() {
        return Err(BenchError::Child(format!(
            "no commwatch binary at {} (build it: cargo build --release)",
            commwatch_bin.display()
        )));
    }
    if let Some(csv) = csv.as_ref().filter(|c| !c.is_file()) {
        return Err(BenchError::Child(format!(
            "no commune list at {}",
            csv.display()
        )));
    }
    let blackbox_bin = peers::blackbox_binary();
    if blackbox_bin.is_none() {
        eprintln!(
            "commwatch-bench: blackbox_exporter not found; peer columns stay empty (apt-get install prometheus-blackbox-exporter)"
        );
    }
    let work = std::env::temp_dir().join(format!("commwatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| BenchError::io("creating the work dir", e))?;
    Ok(Ctx {
        quick,
        commwatch_bin,
        blackbox_bin,
        csv,
        work,
    })
}

async fn soak(
    set: &str,
    interval: u64,
    secs: u64,
    scrape_every: Option<u64>,
    csv: Option<PathBuf>,
    commwatch: Option<PathBuf>,
) -> Result<(), BenchError> {
    let set = match set {
        "http1000" => scale::Set::Http1000,
        "ha-tinh" => scale::Set::HaTinh,
        "national" => scale::Set::National,
        other => return Err(BenchError::Child(format!("unknown set `{other}`"))),
    };
    let interval = Duration::from_secs(interval.max(2));
    let national = set == scale::Set::National;
    let case = scale::Case {
        name: "soak",
        set,
        interval,
        timeout: (interval / 2).min(Duration::from_secs(10)),
        hang_every: national.then_some(4),
        max_concurrency: national.then_some(4_096),
        warmup: Duration::ZERO,
        window: Duration::from_secs(secs),
        runs: 1,
        readers: false,
    };
    let ctx = context(false, csv, commwatch)?;
    let r = scale::soak(&ctx, &case, secs, scrape_every).await;
    let _ = std::fs::remove_dir_all(&ctx.work);
    r
}

/// The `sim-serve` verb: endpoints per `layout` (see [`procs::layout`]) from `base`, until
/// stdin closes. Answers `hits` with the requests served so far, and `refuse-all` (every
/// endpoint refuses from then on) with `refused N` once it is in effect.
async fn sim_serve(
    base: Ipv4Addr,
    port: u16,
    layout: &str,
    slow_ms: u64,
    nofile: u64,
) -> Result<(), BenchError> {
    use procs::layout as l;
    use tokio::io::AsyncBufReadExt;
    let mut endpoints = Vec::with_capacity(layout.len());
    for c in layout.chars() {
        let (kind, behaviour) = match c {
            l::HTTP => (EndpointKind::Http, Behaviour::Healthy),
            l::HTTP_HANG => (EndpointKind::Http, Behaviour::Hang),
            l::HTTP_SLOW => (
                EndpointKind::Http,
                Behaviour::Slow(Duration::from_millis(slow_ms)),
            ),
            l::TCP => (EndpointKind::Tcp, Behaviour::Healthy),
            l::TCP_HANG => (EndpointKind::Tcp, Behaviour::Hang),
            l::DNS => (EndpointKind::Dns, Behaviour::Healthy),
            l::DNS_HANG => (EndpointKind::Dns, Behaviour::Hang),
            // Silent pings are the harness's firewall's doing, not the simulator's.
            l::PING | l::PING_SILENT => (EndpointKind::Ping, Behaviour::Healthy),
            other => {
                return Err(BenchError::Child(format!(
                    "unknown layout letter `{other}`"
                )));
            }
        };
        endpoints.push(EndpointSpec { kind, behaviour });
    }
    // Whatever descriptors the listeners leave free may hold connections.
    let spare = usize::try_from(nofile)
        .unwrap_or(usize::MAX)
        .saturating_sub(endpoints.len() * 2 + 256);
    let n = endpoints.len();
    let sim = Sim::start(SimSpec {
        endpoints,
        plan: AddrPlan::Spread { base, port },
        max_connections: spare.clamp(64, 50_000),
    })
    .await?;
    println!("ready {n}");
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        match line.trim() {
            "hits" => println!("hits {}", sim.total_hits()),
            // The storm: every endpoint starts refusing connections, as fast as it can.
            "refuse-all" => {
                for i in 0..n {
                    if sim.kind(i) != Some(EndpointKind::Ping) {
                        sim.set(i, Behaviour::Refuse).await?;
                    }
                }
                println!("refused {n}");
            }
            _ => {}
        }
    }
    sim.shutdown().await;
    Ok(())
}

//! Scenarios 3 and 4, scale and readers: the commwatch daemon as its own process on a
//! generated inventory whose every target is a simulated endpoint on loopback. After a
//! warm-up (one interval plus a timeout: every target has run), a measurement window is
//! bracketed by two readings: CPU from `/proc`, memory (VmRSS, VmHWM), probes and the
//! schedule-lateness histogram from `/metrics`, and stored samples from the SQLite file. The
//! readers (`/metrics`, the status page, the JSON API) are timed after the second reading,
//! while the daemon keeps probing. Cases with readers start on a store seeded with 30 days of
//! rollups for every target, so the 30-day availability queries read a month of history.
//!
//! The target mix follows the inventory's catalogue: mobile sites are pinged, fixed lines,
//! post offices and portals answer HTTP, the government network's commune links TCP, and the
//! operators' resolvers DNS. Hanging targets hang in their own way: HTTP and DNS endpoints
//! read and never answer, TCP handshakes never complete, and pings are dropped by the
//! harness's firewall table ([`crate::silence`]), so every kind waits for its timeout.

use std::net::Ipv4Addr;
use std::time::Duration;

use commwatch::rig::inventory::{self, Inventory, ProbeKind, Scope, TomlSettings};
use commwatch::rig::sim::{AddrPlan, target_string};
use serde::Serialize;

use crate::daemon::{Daemon, Reading};
use crate::procs::{SimFleet, layout};
use crate::promtext::{Quantile, delta, max_bound, quantile};
use crate::{BenchError, Ctx, median};

/// Which inventory a case probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Set {
    /// The first 1,000 HTTP targets of the national inventory.
    Http1000,
    HaTinh,
    National,
    /// The first 5,000 targets of the national inventory (the storm).
    Storm,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub set: Set,
    pub interval: Duration,
    pub timeout: Duration,
    /// Every n-th target hangs until its timeout (4: a quarter).
    pub hang_every: Option<usize>,
    pub max_concurrency: Option<usize>,
    pub warmup: Duration,
    pub window: Duration,
    pub runs: usize,
    /// Time `/metrics`, `/` and `/api/v1/targets` after the window.
    pub readers: bool,
}

/// The cases of a run, quick or full.
pub fn cases(quick: bool) -> Vec<Case> {
    let s = Duration::from_secs;
    let mut v = vec![Case {
        name: "1,000 HTTP targets @ 10 s",
        set: Set::Http1000,
        interval: s(10),
        timeout: s(5),
        hang_every: None,
        max_concurrency: None,
        warmup: s(if quick { 12 } else { 15 }),
        window: s(if quick { 15 } else { 45 }),
        runs: if quick { 1 } else { 3 },
        readers: false,
    }];
    v.push(Case {
        name: "Hà Tĩnh @ 10 s",
        set: Set::HaTinh,
        interval: s(10),
        timeout: s(5),
        hang_every: None,
        max_concurrency: None,
        warmup: s(if quick { 8 } else { 15 }),
        window: s(if quick { 5 } else { 20 }),
        runs: 1,
        readers: true,
    });
    if !quick {
        v.push(Case {
            name: "national, 25% hanging @ 60 s",
            set: Set::National,
            interval: s(60),
            timeout: s(10),
            hang_every: Some(4),
            max_concurrency: Some(4_096),
            warmup: s(70),
            window: s(120),
            runs: 1,
            readers: true,
        });
    }
    v.push(Case {
        name: "national, 25% hanging, drill @ 10 s",
        set: Set::National,
        interval: s(10),
        timeout: s(5),
        hang_every: Some(4),
        max_concurrency: Some(4_096),
        warmup: s(if quick { 12 } else { 15 }),
        window: s(if quick { 20 } else { 120 }),
        runs: 1,
        readers: true,
    });
    v
}

const PORT: u16 = 18_080;
/// Endpoints per simulator process: listeners plus held connections stay well inside a
/// 20,000-descriptor limit.
const PER_SHARD: usize = 5_000;

fn base(set: Set) -> Ipv4Addr {
    match set {
        Set::Http1000 => Ipv4Addr::new(127, 20, 0, 1),
        Set::HaTinh => Ipv4Addr::new(127, 24, 0, 1),
        Set::National => Ipv4Addr::new(127, 32, 0, 1),
        Set::Storm => Ipv4Addr::new(127, 48, 0, 1),
    }
}

fn inventory_for(ctx: &Ctx, set: Set) -> Result<Inventory, BenchError> {
    let all = inventory::communes(ctx.csv.as_deref())?;
    Ok(match set {
        Set::HaTinh => inventory::build(&all, &Scope::Province("42".into()))?,
        Set::National => inventory::build(&all, &Scope::Country)?,
        Set::Http1000 => {
            let mut inv = inventory::build(&all, &Scope::Country)?;
            inv.entries.retain(|e| e.probe() == ProbeKind::Http);
            first(inv, 1_000)
        }
        Set::Storm => first(inventory::build(&all, &Scope::Country)?, 5_000),
    })
}

/// The first `n` entries of `inv`, with its commune and province counts to match.
fn first(mut inv: Inventory, n: usize) -> Inventory {
    inv.entries.truncate(n);
    let mut communes: Vec<(&str, &str)> = inv
        .entries
        .iter()
        .map(|e| (e.province.as_str(), e.commune.as_str()))
        .collect();
    communes.sort_unstable();
    communes.dedup();
    let mut provinces: Vec<&str> = communes.iter().map(|c| c.0).collect();
    provinces.dedup();
    let (c, p) = (communes.len(), provinces.len());
    inv.communes = c;
    inv.provinces = p;
    inv
}

/// The simulator letter standing in for entry `i`.
fn layout_for(kind: ProbeKind, hang: bool) -> char {
    match (kind, hang) {
        (ProbeKind::Http, false) => layout::HTTP,
        (ProbeKind::Http, true) => layout::HTTP_HANG,
        (ProbeKind::Tcp, false) => layout::TCP,
        (ProbeKind::Tcp, true) => layout::TCP_HANG,
        (ProbeKind::Icmp, false) => layout::PING,
        (ProbeKind::Icmp, true) => layout::PING_SILENT,
        (ProbeKind::Dns, false) => layout::DNS,
        (ProbeKind::Dns, true) => layout::DNS_HANG,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Reader {
    pub path: String,
    pub bytes: usize,
    pub ttfb_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: &'static str,
    pub set: Set,
    pub targets: usize,
    pub http: usize,
    pub tcp: usize,
    pub icmp: usize,
    pub dns: usize,
    pub hanging: usize,
    pub interval_s: u64,
    pub timeout_s: u64,
    pub max_concurrency: Option<usize>,
    pub runs: usize,
    pub window_s: f64,
    pub startup_s: f64,
    pub stop_s: f64,
    pub probes_per_s: f64,
    pub samples_written_per_s: f64,
    pub cpu_cores: f64,
    pub cpu_s_per_1000_probes: f64,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
    pub lateness_p50: Option<Quantile>,
    pub lateness_p99: Option<Quantile>,
    /// Upper bound of the highest lateness bucket reached, in seconds.
    pub lateness_max_le: Option<f64>,
    /// Some start was later than the last finite bucket (10 s).
    pub lateness_max_beyond_buckets: bool,
    pub simulator_requests_per_s: f64,
    pub readers: Vec<Reader>,
}

struct RunOut {
    window_s: f64,
    startup_s: f64,
    stop_s: f64,
    probes_per_s: f64,
    samples_per_s: f64,
    cpu_cores: f64,
    cpu_per_1000: f64,
    rss: u64,
    hwm: u64,
    lateness: Vec<(f64, f64)>,
    sim_per_s: f64,
    readers: Vec<Reader>,
}

/// A case's inventory, simulator layout and target addresses, computed once for all runs.
pub struct Prepared {
    pub inv: Inventory,
    layout: String,
    addrs: Vec<String>,
    hanging: usize,
}

impl Prepared {
    pub fn new(ctx: &Ctx, case: &Case) -> Result<Prepared, BenchError> {
        let inv = inventory_for(ctx, case.set)?;
        let hang = |i: usize| case.hang_every.is_some_and(|n| i % n == n - 1);
        let layout: String = inv
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| layout_for(e.probe(), hang(i)))
            .collect();
        let plan = AddrPlan::Spread {
            base: base(case.set),
            port: PORT,
        };
        let kinds = inv.sim_kinds();
        let addrs: Vec<String> = (0..inv.entries.len())
            .map(|i| plan.addr(i).map(|a| target_string(kinds[i], a)))
            .collect::<Option<_>>()
            .ok_or_else(|| BenchError::Child("inventory larger than 127.0.0.0/8".into()))?;
        let hanging = (0..inv.entries.len()).filter(|&i| hang(i)).count();
        Ok(Prepared {
            inv,
            layout,
            addrs,
            hanging,
        })
    }

    pub fn targets(&self) -> usize {
        self.inv.entries.len()
    }

    /// The daemon's configuration, storing into `db`.
    pub fn config(&self, case: &Case, db: &std::path::Path) -> String {
        let settings = TomlSettings {
            header: vec![format!("Benchmark: {}", case.name)],
            listen: "127.0.0.1:0".into(),
            storage_path: db.display().to_string(),
            interval: case.interval,
            timeout: case.timeout,
            max_concurrency: case.max_concurrency,
            ..TomlSettings::default()
        };
        self.inv.to_toml(&settings, |i, _| self.addrs[i].clone())
    }

    pub async fn start_sims(&self, case: &Case) -> Result<SimFleet, BenchError> {
        SimFleet::start(&self.layout, base(case.set), PORT, 0, PER_SHARD).await
    }
}

pub async fn run(ctx: &Ctx, case: &Case) -> Result<Row, BenchError> {
    let prep = Prepared::new(ctx, case)?;
    let inv = &prep.inv;
    let mut outs = Vec::new();
    for run in 0..case.runs {
        eprintln!(
            "scale: {} — run {}/{}, {} targets, warm-up {:?}, window {:?}",
            case.name,
            run + 1,
            case.runs,
            inv.entries.len(),
            case.warmup,
            case.window
        );
        let dir = ctx.work.join(format!("scale-{:?}-{run}", case.set));
        std::fs::create_dir_all(&dir).map_err(|e| BenchError::io("creating a work dir", e))?;
        let db = dir.join("commwatch.db");
        if case.readers {
            seed_month(&db, &prep.inv).await?;
        }
        let text = prep.config(case, &db);
        let mut sims = prep.start_sims(case).await?;
        let first = inv.entries.first().map_or("", |e| e.id.as_str());
        let out = measure(ctx, case, &text, db, &mut sims, first).await;
        sims.stop().await;
        outs.push(out?);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let m = |f: fn(&RunOut) -> f64| median(&outs.iter().map(f).collect::<Vec<_>>());
    // Lateness: observations of every run together, so p99 rests on all of them.
    let mut lateness: Vec<(f64, f64)> = Vec::new();
    for o in &outs {
        for &(le, v) in &o.lateness {
            match lateness.iter_mut().find(|(l, _)| *l == le) {
                Some(slot) => slot.1 += v,
                None => lateness.push((le, v)),
            }
        }
    }
    lateness.sort_by(|a, b| a.0.total_cmp(&b.0));
    const MB: f64 = 1024.0 * 1024.0;
    Ok(Row {
        name: case.name,
        set: case.set,
        targets: inv.entries.len(),
        http: inv.count(ProbeKind::Http),
        tcp: inv.count(ProbeKind::Tcp),
        icmp: inv.count(ProbeKind::Icmp),
        dns: inv.count(ProbeKind::Dns),
        hanging: prep.hanging,
        interval_s: case.interval.as_secs(),
        timeout_s: case.timeout.as_secs(),
        max_concurrency: case.max_concurrency,
        runs: case.runs,
        window_s: m(|o| o.window_s),
        startup_s: m(|o| o.startup_s),
        stop_s: m(|o| o.stop_s),
        probes_per_s: m(|o| o.probes_per_s),
        samples_written_per_s: m(|o| o.samples_per_s),
        cpu_cores: m(|o| o.cpu_cores),
        cpu_s_per_1000_probes: m(|o| o.cpu_per_1000),
        rss_mb: m(|o| o.rss as f64) / MB,
        peak_rss_mb: outs.iter().map(|o| o.hwm).max().unwrap_or(0) as f64 / MB,
        lateness_p50: quantile(&lateness, 0.50),
        lateness_p99: quantile(&lateness, 0.99),
        lateness_max_le: max_bound(&lateness).flatten(),
        lateness_max_beyond_buckets: max_bound(&lateness) == Some(None),
        simulator_requests_per_s: m(|o| o.sim_per_s),
        readers: outs.last().map(|o| o.readers.clone()).unwrap_or_default(),
    })
}

async fn measure(
    ctx: &Ctx,
    case: &Case,
    config: &str,
    db: std::path::PathBuf,
    sims: &mut SimFleet,
    first: &str,
) -> Result<RunOut, BenchError> {
    let dir = db
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| ctx.work.clone());
    let d = Daemon::start(&ctx.commwatch_bin, &dir, config, db).await?;
    let r = window(case, &d, sims).await;
    let readers = if r.is_ok() && case.readers {
        readers(&d, first).await
    } else {
        Ok(Vec::new())
    };
    // Stop even when a reading failed, and report the first error.
    let stop = d.stop(case.timeout + Duration::from_secs(60)).await;
    let (a, b, sim_per_s, startup) = r?;
    let readers = readers?;
    let stop = stop?;
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let probes = b.probes - a.probes;
    let cpu = b.cpu_s - a.cpu_s;
    Ok(RunOut {
        window_s: secs,
        startup_s: startup.as_secs_f64(),
        stop_s: stop.as_secs_f64(),
        probes_per_s: probes / secs,
        samples_per_s: (b.rows - a.rows) as f64 / secs,
        cpu_cores: cpu / secs,
        cpu_per_1000: cpu / probes.max(1.0) * 1000.0,
        rss: b.rss,
        hwm: b.hwm,
        lateness: delta(&b.lateness, &a.lateness),
        sim_per_s,
        readers,
    })
}

async fn window(
    case: &Case,
    d: &Daemon,
    sims: &mut SimFleet,
) -> Result<(Reading, Reading, f64, Duration), BenchError> {
    tokio::time::sleep(case.warmup).await;
    let h0 = sims.hits().await?;
    let a = d.reading().await?;
    tokio::time::sleep(case.window).await;
    let b = d.reading().await?;
    let h1 = sims.hits().await?;
    let secs = b.at.duration_since(a.at).as_secs_f64();
    Ok((a, b, (h1 - h0) as f64 / secs, d.startup))
}

/// A store with 30 days of rollups for every target of `inv`, before the daemon opens it.
async fn seed_month(db: &std::path::Path, inv: &Inventory) -> Result<(), BenchError> {
    let t = std::time::Instant::now();
    let (store, writer) = commwatch::store::Store::open(db, commwatch::store::Retention::default())
        .map_err(|e| BenchError::Child(e.to_string()))?;
    let keys: Vec<String> = inv.entries.iter().map(|e| e.id.clone()).collect();
    let n = keys.len();
    let to = chrono::Utc::now();
    store
        .seed_rollups(keys, to - chrono::Duration::days(30), to)
        .await
        .map_err(|e| BenchError::Child(e.to_string()))?;
    drop(store);
    writer.join().await;
    eprintln!(
        "scale: seeded 30 days of rollups for {} targets in {:.1} s",
        n,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Each reader three times; the median of each measure. The availability readers ask for
/// 30 days: one target, and every province (all targets, grouped).
async fn readers(d: &Daemon, first: &str) -> Result<Vec<Reader>, BenchError> {
    let mut out = Vec::new();
    let paths = [
        "/metrics".to_string(),
        "/".to_string(),
        "/api/v1/targets".to_string(),
        format!("/api/v1/targets/{first}/availability?range=30d"),
        "/api/v1/groups/province/availability?range=30d".to_string(),
    ];
    for path in paths {
        let mut ttfb = Vec::new();
        let mut total = Vec::new();
        let mut bytes = 0;
        for _ in 0..3 {
            let (t, all, body) = d.get(&path).await?;
            ttfb.push(t.as_secs_f64() * 1e3);
            total.push(all.as_secs_f64() * 1e3);
            bytes = body.len();
        }
        out.push(Reader {
            path,
            bytes,
            ttfb_ms: median(&ttfb),
            total_ms: median(&total),
        });
    }
    Ok(out)
}

/// The `soak` verb: one case's simulator and daemon held for `secs`, with CPU and memory read
/// from `/proc` every five seconds and `/metrics` read every `scrape_every` (never, if
/// `None`): for watching the daemon by hand, e.g. on its status page.
pub async fn soak(
    ctx: &Ctx,
    case: &Case,
    secs: u64,
    scrape_every: Option<u64>,
) -> Result<(), BenchError> {
    let prep = Prepared::new(ctx, case)?;
    let dir = ctx.work.join("soak");
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::io("creating a work dir", e))?;
    let db = dir.join("commwatch.db");
    let sims = prep.start_sims(case).await?;
    let r = async {
        let d = Daemon::start(&ctx.commwatch_bin, &dir, &prep.config(case, &db), db).await?;
        eprintln!(
            "soak: {} targets; commwatch pid {} at http://{}/ (started in {:.1} s)",
            prep.targets(),
            d.pid(),
            d.addr,
            d.startup.as_secs_f64()
        );
        let began = std::time::Instant::now();
        let mut last = (began, crate::os::cpu_seconds(d.pid()).unwrap_or(0.0));
        let step = Duration::from_secs(5);
        let mut next_scrape = scrape_every.map(Duration::from_secs);
        while began.elapsed() < Duration::from_secs(secs) {
            tokio::time::sleep(step).await;
            if let Some(at) = next_scrape
                && began.elapsed() >= at
            {
                let (ttfb, total, body) = d.get("/metrics").await?;
                eprintln!(
                    "soak: /metrics {} bytes, first byte {:?}, all {:?}",
                    body.len(),
                    ttfb,
                    total
                );
                next_scrape = scrape_every.map(|e| at + Duration::from_secs(e));
            }
            let now = std::time::Instant::now();
            let cpu = crate::os::cpu_seconds(d.pid()).map_err(|e| BenchError::io("cpu", e))?;
            let (rss, hwm) = crate::os::memory(d.pid()).map_err(|e| BenchError::io("memory", e))?;
            eprintln!(
                "soak: t={:>4.0}s cpu={:.3} cores rss={} MiB peak={} MiB",
                began.elapsed().as_secs_f64(),
                (cpu - last.1) / now.duration_since(last.0).as_secs_f64(),
                rss >> 20,
                hwm >> 20
            );
            last = (now, cpu);
        }
        // Everything since start, including the first round; the scrape's own delays are
        // observed after it, so they are not in these numbers.
        let end = d.reading().await?;
        eprintln!(
            "soak: lateness since start p50 {:?} p99 {:?} max bucket {:?}; {} probes",
            quantile(&end.lateness, 0.5),
            quantile(&end.lateness, 0.99),
            max_bound(&end.lateness),
            end.probes
        );
        d.stop(case.timeout + Duration::from_secs(60)).await?;
        Ok(())
    }
    .await;
    sims.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

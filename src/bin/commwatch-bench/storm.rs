//! Scenario 5, storm: 5,000 targets (the first of the national inventory: mobile sites
//! pinged, the rest HTTP, TCP and DNS on simulated endpoints) are up, then every simulated
//! endpoint starts refusing and every pinged address falls silent within about a second, as
//! when a typhoon cuts power to a region (refused probes fail at once, silent pings at their
//! timeout). Measured: how long until every target is DOWN (read from `/api/v1/targets` every
//! half second), how many alert messages reach a webhook receiver on loopback (grouped by
//! province and operator, so a handful rather than thousands), and the daemon's memory and
//! CPU through it.

use std::time::{Duration, Instant};

use commwatch::rig::sim::collector::Collector;
use serde::Serialize;

use crate::daemon::Daemon;
use crate::scale::{Case, Prepared, Set};
use crate::{BenchError, Ctx, os};

/// The alerting part of the daemon's configuration: grouped by province and operator, as the
/// default is, with a group wait short enough for a bounded run.
const GROUP_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub targets: usize,
    pub interval_s: u64,
    pub failure_threshold: u32,
    /// Distinct (province, operator) pairs among the targets: the most messages grouping
    /// should produce for one storm.
    pub groups: usize,
    /// From the command to the simulators until every endpoint refused.
    pub fail_spread_s: f64,
    /// From the first endpoint refusing until the first and the last target read DOWN.
    pub first_down_s: f64,
    pub all_down_s: f64,
    pub group_wait_s: u64,
    /// Messages the receiver got until the end of the run (all DOWN + group wait + margin).
    pub messages: usize,
    /// Targets those messages name as down, summed (a target named twice counts twice).
    pub targets_named: usize,
    /// From the first endpoint refusing to the last message received.
    pub last_message_s: Option<f64>,
    pub rss_before_mb: f64,
    pub rss_after_mb: f64,
    pub peak_rss_mb: f64,
    pub cpu_s: f64,
}

pub async fn run(ctx: &Ctx) -> Result<Row, BenchError> {
    let s = Duration::from_secs;
    let case = Case {
        name: "storm",
        set: Set::Storm,
        interval: s(5),
        timeout: s(2),
        hang_every: None,
        max_concurrency: None,
        warmup: Duration::ZERO,
        window: Duration::ZERO,
        runs: 1,
        readers: false,
    };
    let prep = Prepared::new(ctx, &case)?;
    let mut groups: Vec<(&str, &str)> = prep
        .inv
        .entries
        .iter()
        .map(|e| (e.province.as_str(), e.service.operator))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let groups = groups.len();
    let dir = ctx.work.join("storm");
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::io("creating a work dir", e))?;
    let db = dir.join("commwatch.db");
    let collector = Collector::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let config = format!(
        "{}\n[alerting]\ngroup_by = [\"province\", \"operator\"]\ngroup_wait = \"{}s\"\n\n\
         [[receivers]]\nid = \"storm-webhook\"\nkind = \"webhook\"\nurl = \"{}\"\n\n\
         [[routes]]\nreceiver = \"storm-webhook\"\n",
        prep.config(&case, &db),
        GROUP_WAIT.as_secs(),
        collector.url("/hook")
    );
    let mut sims = prep.start_sims(&case).await?;
    let r = async {
        let d = Daemon::start(&ctx.commwatch_bin, &dir, &config, db).await?;
        let r = storm(&d, &mut sims, &collector, &prep, &case, groups).await;
        let stop = d.stop(case.timeout + s(60)).await;
        let row = r?;
        stop?;
        Ok(row)
    }
    .await;
    sims.stop().await;
    collector.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Targets in each state, from `/api/v1/targets`.
async fn states(d: &Daemon) -> Result<(usize, usize, usize), BenchError> {
    let all = targets(d).await?;
    let count = |s: &str| all.iter().filter(|t| t["state"] == s).count();
    Ok((all.len(), count("up"), count("down")))
}

async fn targets(d: &Daemon) -> Result<Vec<serde_json::Value>, BenchError> {
    let (_, _, body) = d.get("/api/v1/targets").await?;
    let mut v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(match v["targets"].take() {
        serde_json::Value::Array(a) => a,
        _ => Vec::new(),
    })
}

/// A few targets that are not in `state`, to say why a bounded wait ran out.
async fn not_in(d: &Daemon, state: &str) -> String {
    match targets(d).await {
        Ok(all) => all
            .iter()
            .filter(|t| t["state"] != state)
            .take(3)
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => e.to_string(),
    }
}

async fn storm(
    d: &Daemon,
    sims: &mut crate::procs::SimFleet,
    collector: &Collector,
    prep: &Prepared,
    case: &Case,
    groups: usize,
) -> Result<Row, BenchError> {
    let n = prep.targets();
    // Up first: every target confirmed UP (two successes by default), within a bound.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, up, _) = states(d).await?;
        if up == n {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Child(format!(
                "storm: only {up} of {n} targets came up, such as {}",
                not_in(d, "up").await
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = collector.received().len();
    let (rss_before, _) = os::memory(d.pid()).map_err(|e| BenchError::io("memory", e))?;
    let cpu0 = os::cpu_seconds(d.pid()).map_err(|e| BenchError::io("cpu", e))?;
    eprintln!("storm: {n} targets up; every endpoint refuses from now on");
    let t0 = Instant::now();
    let t0_utc = chrono::Utc::now();
    sims.refuse_all().await?;
    let fail_spread = t0.elapsed();
    let mut first_down = None;
    let deadline = t0 + Duration::from_secs(120);
    let all_down = loop {
        let (_, _, down) = states(d).await?;
        if down > 0 && first_down.is_none() {
            first_down = Some(t0.elapsed());
        }
        if down == n {
            break t0.elapsed();
        }
        if Instant::now() > deadline {
            return Err(BenchError::Child(format!(
                "storm: {down} of {n} targets DOWN after {:?}, not: {}",
                t0.elapsed(),
                not_in(d, "down").await
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "storm: all {n} DOWN after {:.1} s; waiting for grouped alerts",
        all_down.as_secs_f64()
    );
    // Every group's first message is due a group wait after its first change; the margin
    // covers delivery.
    tokio::time::sleep(GROUP_WAIT + Duration::from_secs(10)).await;
    let cpu1 = os::cpu_seconds(d.pid()).map_err(|e| BenchError::io("cpu", e))?;
    let (rss_after, hwm) = os::memory(d.pid()).map_err(|e| BenchError::io("memory", e))?;
    let got = collector.received().split_off(before);
    const MB: f64 = 1024.0 * 1024.0;
    Ok(Row {
        targets: n,
        interval_s: case.interval.as_secs(),
        failure_threshold: commwatch::config::DEFAULT_FAILURE_THRESHOLD,
        groups,
        fail_spread_s: fail_spread.as_secs_f64(),
        first_down_s: first_down.unwrap_or(all_down).as_secs_f64(),
        all_down_s: all_down.as_secs_f64(),
        group_wait_s: GROUP_WAIT.as_secs(),
        messages: got.len(),
        targets_named: got.iter().map(|r| named(&r.body)).sum(),
        last_message_s: got
            .iter()
            .map(|r| (r.at - t0_utc).num_milliseconds() as f64 / 1e3)
            .reduce(f64::max),
        rss_before_mb: rss_before as f64 / MB,
        rss_after_mb: rss_after as f64 / MB,
        peak_rss_mb: hwm as f64 / MB,
        cpu_s: cpu1 - cpu0,
    })
}

/// Targets a webhook message lists (its `targets` array).
fn named(body: &serde_json::Value) -> usize {
    body["targets"].as_array().map_or(0, Vec::len)
}

//! Scenario 2, ICMP sweep: commwatch's ICMP probe against N addresses in 127.0.0.0/8 (the
//! kernel answers every one of them on loopback), side by side with Debian's `fping` at the
//! same pacing: wall time, CPU time and replies. commwatch sweeps in a worker process (this
//! binary's hidden `sweep-worker` verb) so its CPU time is the prober's alone; fping's comes
//! from `wait4`, the kernel's own accounting of that child.
//!
//! Pacing follows fping's flags: a new echo request every `interval` (`-i`, 0 for none) and
//! `period` between two requests to one host (`-p`, commwatch's `spacing`); the last reply is
//! waited for 500 ms (`-t 500`) on both sides. Needs root or ping sockets, like the probe.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commwatch::probe::{IcmpSpec, ProbeSpec, Prober};
use serde::{Deserialize, Serialize};

use crate::procs::{run_worker, serve_once};
use crate::{BenchError, Ctx, median};

/// One sweep shape.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Shape {
    pub hosts: u32,
    pub count: u32,
    pub interval_ms: f64,
    pub period_ms: u64,
}

/// At most this many addresses and echoes per address: every sweep is bounded.
const MAX_HOSTS: u32 = 60_000;
const MAX_COUNT: u32 = 10;
/// How long the last reply is waited for, as fping's `-t 500`.
const REPLY_WAIT: Duration = Duration::from_millis(500);

fn shapes(quick: bool) -> Vec<Shape> {
    let s = |hosts, count, interval_ms, period_ms| Shape {
        hosts,
        count,
        interval_ms,
        period_ms,
    };
    if quick {
        vec![s(2_000, 1, 0.0, 1_000), s(200, 5, 1.0, 200)]
    } else {
        vec![
            s(10_000, 1, 0.0, 1_000),
            s(10_000, 1, 1.0, 1_000),
            s(1_000, 5, 1.0, 1_000),
        ]
    }
}

/// The i-th swept address: 127.1.0.1, 127.1.0.2, ... (never .0 or .255).
pub fn address(i: u32) -> Ipv4Addr {
    let n = i / 254;
    Ipv4Addr::new(
        127,
        1 + (n / 256) as u8,
        (n % 256) as u8,
        (i % 254 + 1) as u8,
    )
}

/// What one side did in one sweep.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub sent: u64,
    pub received: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub cpu_s_runs: Vec<f64>,
    pub sent: u64,
    pub received: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub shape: Shape,
    pub runs: usize,
    pub commwatch: Side,
    /// Peak resident memory of commwatch's sweeping process.
    pub commwatch_peak_rss_mb: f64,
    pub fping: Option<Side>,
    /// commwatch's CPU as a multiple of fping's.
    pub cpu_ratio: Option<f64>,
}

fn side(runs: &[Outcome]) -> Side {
    let cpu: Vec<f64> = runs.iter().map(|o| o.cpu_s).collect();
    Side {
        wall_s: median(&runs.iter().map(|o| o.wall_s).collect::<Vec<_>>()),
        cpu_s: median(&cpu),
        cpu_s_runs: cpu,
        // Totals over the runs: a single lost reply shows.
        sent: runs.iter().map(|o| o.sent).sum(),
        received: runs.iter().map(|o| o.received).sum(),
    }
}

pub async fn run(ctx: &Ctx) -> Result<Vec<Row>, BenchError> {
    let fping = crate::peers::fping_binary();
    if fping.is_none() {
        eprintln!("sweep: fping not found; its columns stay empty (apt-get install fping)");
    }
    let runs = if ctx.quick { 1 } else { 3 };
    let mut rows = Vec::new();
    for shape in shapes(ctx.quick) {
        eprintln!(
            "sweep: {} hosts × {} echo, interval {} ms, period {} ms, {runs} run(s)",
            shape.hosts, shape.count, shape.interval_ms, shape.period_ms
        );
        let mut cw = Vec::new();
        let mut fp = Vec::new();
        let mut peak = 0;
        for _ in 0..runs {
            let (o, hwm) = commwatch_sweep(&shape).await?;
            cw.push(o);
            peak = peak.max(hwm);
            if let Some(bin) = &fping {
                fp.push(fping_sweep(bin, &shape, &ctx.work).await?);
            }
        }
        let commwatch = side(&cw);
        let fping = (!fp.is_empty()).then(|| side(&fp));
        let cpu_ratio = fping.as_ref().map(|f| commwatch.cpu_s / f.cpu_s.max(1e-9));
        rows.push(Row {
            shape,
            runs,
            commwatch,
            commwatch_peak_rss_mb: peak as f64 / 1024.0 / 1024.0,
            fping,
            cpu_ratio,
        });
    }
    Ok(rows)
}

async fn commwatch_sweep(shape: &Shape) -> Result<(Outcome, u64), BenchError> {
    let args: Vec<String> = vec![
        "sweep-worker".into(),
        "--hosts".into(),
        shape.hosts.to_string(),
        "--count".into(),
        shape.count.to_string(),
        "--interval-ms".into(),
        shape.interval_ms.to_string(),
        "--period-ms".into(),
        shape.period_ms.to_string(),
    ];
    let w = run_worker(&args, "sweep worker", Duration::from_secs(300)).await?;
    let mut o: Outcome = serde_json::from_str(&w.done)?;
    o.cpu_s = w.cpu_s;
    Ok((o, w.peak_rss))
}

/// The `sweep-worker` verb: builds the prober (opening its ICMP sockets), then sweeps when
/// told to (the protocol is [`serve_once`]'s).
pub async fn worker(
    hosts: u32,
    count: u32,
    interval_ms: f64,
    period_ms: u64,
) -> Result<(), BenchError> {
    if hosts == 0 || hosts > MAX_HOSTS || count == 0 || count > MAX_COUNT {
        return Err(BenchError::Child(format!(
            "a sweep is 1..={MAX_HOSTS} hosts and 1..={MAX_COUNT} echo requests each"
        )));
    }
    let prober = Arc::new(Prober::new()?);
    // One echo first, so the sockets and the receive task are up before the clock starts.
    let warm = ProbeSpec::Icmp(IcmpSpec {
        host: "127.0.0.1".into(),
        count: 1,
        spacing: Duration::from_secs(1),
    });
    prober.run(&warm, Duration::from_secs(2)).await;
    serve_once(|| sweep(prober, hosts, count, interval_ms, period_ms)).await
}

async fn sweep(
    prober: Arc<Prober>,
    hosts: u32,
    count: u32,
    interval_ms: f64,
    period_ms: u64,
) -> Outcome {
    let interval = Duration::from_secs_f64(interval_ms.max(0.0) / 1e3);
    let period = Duration::from_millis(period_ms);
    let timeout = period * (count - 1) + REPLY_WAIT;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..hosts {
        let prober = prober.clone();
        let spec = ProbeSpec::Icmp(IcmpSpec {
            host: address(i).to_string(),
            count,
            spacing: period,
        });
        let at = start + interval * i;
        tasks.spawn(async move {
            tokio::time::sleep_until(at).await;
            let obs = prober.run(&spec, timeout).await;
            obs.facts.icmp.map_or((0, 0), |f| (f.sent, f.received))
        });
    }
    let mut o = Outcome::default();
    while let Some(r) = tasks.join_next().await {
        let (s, r) = r.unwrap_or((0, 0));
        o.sent += u64::from(s);
        o.received += u64::from(r);
    }
    o.wall_s = start.elapsed().as_secs_f64();
    o
}

async fn fping_sweep(
    bin: &std::path::Path,
    shape: &Shape,
    work: &std::path::Path,
) -> Result<Outcome, BenchError> {
    let list: String = (0..shape.hosts)
        .map(|i| format!("{}\n", address(i)))
        .collect();
    let file = work.join("fping-hosts.txt");
    std::fs::write(&file, list).map_err(|e| BenchError::io("writing the fping list", e))?;
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["-q", "-c", &shape.count.to_string()])
        .args(["-i", &shape.interval_ms.to_string()])
        .args(["-p", &shape.period_ms.to_string()])
        .args(["-t", &REPLY_WAIT.as_millis().to_string(), "-f"])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let r = tokio::task::spawn_blocking(move || run_accounted(cmd))
        .await
        .map_err(|e| BenchError::Child(e.to_string()))??;
    let (wall, cpu, stderr) = r;
    // -q -c prints "ADDR : xmt/rcv/%loss = 5/5/0%, ..." per address on stderr.
    let mut o = Outcome {
        wall_s: wall.as_secs_f64(),
        cpu_s: cpu,
        ..Outcome::default()
    };
    for line in stderr.lines() {
        if let Some(stats) = line.split("xmt/rcv/%loss = ").nth(1) {
            let mut parts = stats.split(['/', ',']);
            let mut next = || -> u64 {
                parts
                    .next()
                    .and_then(|x| x.trim().parse().ok())
                    .unwrap_or(0)
            };
            o.sent += next();
            o.received += next();
        }
    }
    Ok(o)
}

/// Runs `cmd` to completion and returns its wall time, its CPU seconds (user + system, from
/// `wait4`, so only this child counts) and its standard error.
fn run_accounted(mut cmd: std::process::Command) -> Result<(Duration, f64, String), BenchError> {
    use std::io::Read;
    let began = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| BenchError::io("starting fping", e))?;
    let mut stderr = String::new();
    // fping writes its summary at the end, well inside a pipe's buffer for bounded sweeps;
    // reading to the end before waiting also means a larger summary cannot block it.
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr)
            .map_err(|e| BenchError::io("reading fping", e))?;
    }
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| BenchError::Child(e.to_string()))?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 writes into the two locals only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unwaited child; the pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(BenchError::io(
            "waiting for fping",
            std::io::Error::last_os_error(),
        ));
    }
    let wall = began.elapsed();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((wall, tv(usage.ru_utime) + tv(usage.ru_stime), stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_in_loopback_and_skip_network_and_broadcast() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..MAX_HOSTS {
            let a = address(i);
            assert_eq!(a.octets()[0], 127);
            assert!(a.octets()[3] != 0 && a.octets()[3] != 255, "{a}");
            assert!(seen.insert(a), "{a} twice");
        }
    }
}

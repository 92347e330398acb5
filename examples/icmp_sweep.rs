//! ICMP sweep benchmark: commwatch's ICMP probe against N loopback addresses (127.1.0.0/16 and
//! up, all inside 127.0.0.0/8) side by side with Debian's `fping` at the same pacing, reporting
//! wall time, CPU time and replies. Needs root (or ping sockets) like the probe itself.
//!
//! ```text
//! cargo run --release --example icmp_sweep -- --hosts 10000 --count 1
//! cargo run --release --example icmp_sweep -- --hosts 1000 --count 5
//! ```
//! Pacing: a new echo request every `--interval` (fping `-i`), and `--period` between two
//! requests to one host (fping `-p`, our `spacing`). Bounded: at most 60,000 hosts, 10 each.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commwatch::probe::{IcmpSpec, ProbeSpec, Prober};

struct Args {
    hosts: u32,
    count: u32,
    interval: Duration,
    period: Duration,
    skip_fping: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        hosts: 1000,
        count: 1,
        interval: Duration::from_millis(1),
        period: Duration::from_millis(1000),
        skip_fping: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--hosts" => a.hosts = value()?.parse().map_err(|e| format!("--hosts: {e}"))?,
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--interval-ms" => {
                a.interval = Duration::from_micros(
                    (value()?
                        .parse::<f64>()
                        .map_err(|e| format!("--interval-ms: {e}"))?
                        * 1e3) as u64,
                )
            }
            "--period-ms" => {
                a.period = Duration::from_millis(
                    value()?.parse().map_err(|e| format!("--period-ms: {e}"))?,
                )
            }
            "--no-fping" => a.skip_fping = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.hosts == 0 || a.hosts > 60_000 || a.count == 0 || a.count > 10 {
        return Err("bounds: 1..=60000 hosts, 1..=10 echo requests each".into());
    }
    Ok(a)
}

/// The i-th loopback address used by the sweep: 127.1.0.1, 127.1.0.2, ... (never .0 or .255).
fn address(i: u32) -> Ipv4Addr {
    let n = i / 254;
    Ipv4Addr::new(
        127,
        1 + (n / 256) as u8,
        (n % 256) as u8,
        (i % 254 + 1) as u8,
    )
}

/// CPU seconds (user + system) used so far by this process or by its waited-for children.
fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn max_rss_mib() -> f64 {
    // SAFETY: as above.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

struct Outcome {
    wall: Duration,
    cpu: f64,
    sent: u64,
    received: u64,
}

async fn sweep_commwatch(a: &Args) -> Outcome {
    let prober = Arc::new(Prober::new().expect("prober"));
    // Each burst needs (count - 1) periods plus time for the last reply, as fping waits 500 ms.
    let timeout = a.period * (a.count - 1) + Duration::from_millis(500);
    let cpu0 = cpu_seconds(libc::RUSAGE_SELF);
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..a.hosts {
        let prober = prober.clone();
        let spec = ProbeSpec::Icmp(IcmpSpec {
            host: address(i).to_string(),
            count: a.count,
            spacing: a.period,
        });
        let at = start + a.interval * i;
        tasks.spawn(async move {
            tokio::time::sleep_until(at).await;
            let obs = prober.run(&spec, timeout).await;
            obs.facts.icmp.map_or((0, 0), |f| (f.sent, f.received))
        });
    }
    let (mut sent, mut received) = (0u64, 0u64);
    while let Some(r) = tasks.join_next().await {
        let (s, r) = r.unwrap_or((0, 0));
        sent += u64::from(s);
        received += u64::from(r);
    }
    Outcome {
        wall: start.elapsed(),
        cpu: cpu_seconds(libc::RUSAGE_SELF) - cpu0,
        sent,
        received,
    }
}

fn sweep_fping(a: &Args) -> Result<Outcome, String> {
    let list: String = (0..a.hosts).map(|i| format!("{}\n", address(i))).collect();
    let file = std::env::temp_dir().join(format!("icmp-sweep-{}.txt", std::process::id()));
    std::fs::write(&file, list).map_err(|e| e.to_string())?;
    let interval_ms = format!("{}", a.interval.as_secs_f64() * 1e3);
    let cpu0 = cpu_seconds(libc::RUSAGE_CHILDREN);
    let start = Instant::now();
    let out = Command::new("fping")
        .args(["-q", "-c", &a.count.to_string()])
        .args(["-i", &interval_ms, "-p", &a.period.as_millis().to_string()])
        .args(["-t", "500", "-f"])
        .arg(&file)
        .output()
        .map_err(|e| format!("cannot run fping (apt-get install fping): {e}"))?;
    let wall = start.elapsed();
    let cpu = cpu_seconds(libc::RUSAGE_CHILDREN) - cpu0;
    let _ = std::fs::remove_file(&file);
    // -q -c prints "ADDR : xmt/rcv/%loss = 5/5/0%, ..." per target on stderr.
    let (mut sent, mut received) = (0u64, 0u64);
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        if let Some(stats) = line.split("xmt/rcv/%loss = ").nth(1) {
            let mut parts = stats.split(['/', ',']);
            sent += parts
                .next()
                .and_then(|x| x.trim().parse().ok())
                .unwrap_or(0);
            received += parts
                .next()
                .and_then(|x| x.trim().parse().ok())
                .unwrap_or(0);
        }
    }
    Ok(Outcome {
        wall,
        cpu,
        sent,
        received,
    })
}

fn print(name: &str, o: &Outcome) {
    println!(
        "{name:<10} wall {:>7.2} s   cpu {:>6.2} s   sent {:>6}   received {:>6}   requests/cpu-s {:>9.0}",
        o.wall.as_secs_f64(),
        o.cpu,
        o.sent,
        o.received,
        o.sent as f64 / o.cpu.max(1e-9)
    );
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("icmp_sweep: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "ICMP sweep: {} loopback hosts x {} echo requests, one request every {} (period {} per host)",
        a.hosts,
        a.count,
        humantime::format_duration(a.interval),
        humantime::format_duration(a.period)
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ours = rt.block_on(sweep_commwatch(&a));
    print("commwatch", &ours);
    println!("commwatch  max RSS {:.1} MiB", max_rss_mib());
    if !a.skip_fping {
        match sweep_fping(&a) {
            // fping's peak RSS is not reported: a child's ru_maxrss also counts the pages it
            // shared with this process between fork and exec.
            Ok(f) => print("fping", &f),
            Err(e) => println!("fping      not run: {e}"),
        }
    }
}

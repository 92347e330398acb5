//! Scenario 1, probe cost: N probes of one loopback responder, paced at the same rate with the
//! same cap on probes in flight, by commwatch's prober (in a worker process) and by
//! blackbox_exporter (through `/probe`); CPU seconds per 1,000 probes of each process, from
//! `/proc`. The HTTP responder answers after `0.9 × concurrency / rate`, so about
//! `concurrency` probes really are in flight at once.
//!
//! ICMP needs no responder (the kernel answers on loopback); DNS is answered by a simulated
//! DNS endpoint. Adding a probe kind is one more
//! [`Case`] in [`CASES`] and its arm in [`worker`].

use std::net::Ipv4Addr;
use std::time::Duration;

use commwatch::probe::{
    DnsSpec, DnsTransport, HostPort, HttpSpec, IcmpSpec, ProbeSpec, Prober, RecordKind, TcpSpec,
};
use commwatch::rig::sim::{AddrPlan, EndpointKind, target_string};
use serde::Serialize;

use crate::load::{LoadResult, paced};
use crate::peers::Blackbox;
use crate::procs::{SimFleet, layout, run_worker, serve_once};
use crate::{BenchError, Ctx, median, os};

/// What answers a case's probes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    /// A simulator shard with one endpoint of this layout letter (see [`layout`]).
    Sim(char),
    /// The kernel: echo requests to 127.0.0.0/8 are answered on loopback.
    Kernel,
}

/// One probe kind compared with a peer module.
pub struct Case {
    pub kind: &'static str,
    pub responder: Responder,
    pub blackbox_module: &'static str,
}

pub const CASES: &[Case] = &[
    Case {
        kind: "http",
        responder: Responder::Sim(layout::HTTP_SLOW),
        blackbox_module: "http_2xx",
    },
    Case {
        kind: "tcp",
        responder: Responder::Sim(layout::TCP),
        blackbox_module: "tcp_connect",
    },
    Case {
        kind: "icmp",
        responder: Responder::Kernel,
        blackbox_module: "icmp",
    },
    Case {
        kind: "dns",
        responder: Responder::Sim(layout::DNS),
        blackbox_module: "dns_a",
    },
];

/// The name every DNS probe asks for (the responder answers any name).
pub const DNS_QUERY: &str = "portal.ha-tinh.example";

pub const CONCURRENCY: [usize; 2] = [50, 200];
/// Where the responder listens.
const BASE: Ipv4Addr = Ipv4Addr::new(127, 40, 0, 1);
const PORT: u16 = 18_080;
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Probes each side runs before measuring: connection setup paths, allocator pools and the
/// like are warm on both, as in a long-running process.
const WARMUP: u64 = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub cpu_s_per_1000: f64,
    pub cpu_s_per_1000_runs: Vec<f64>,
    pub rate: f64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kind: &'static str,
    pub concurrency: usize,
    pub probes: u64,
    pub paced_rate: f64,
    pub responder_delay_ms: u64,
    pub commwatch: Side,
    pub blackbox_exporter: Option<Side>,
    /// commwatch's cost as a fraction of the peer's.
    pub ratio: Option<f64>,
}

struct Settings {
    probes: u64,
    rate: f64,
    runs: usize,
}

fn settings(quick: bool) -> Settings {
    if quick {
        Settings {
            probes: 600,
            rate: 300.0,
            runs: 1,
        }
    } else {
        Settings {
            probes: 4_000,
            rate: 500.0,
            runs: 3,
        }
    }
}

fn side(runs: &[(LoadResult, f64)]) -> Side {
    let per: Vec<f64> = runs
        .iter()
        .map(|(r, cpu)| cpu / ((r.ok + r.failed).max(1) as f64) * 1000.0)
        .collect();
    Side {
        cpu_s_per_1000: median(&per),
        cpu_s_per_1000_runs: per,
        rate: median(&runs.iter().map(|(r, _)| r.rate()).collect::<Vec<_>>()),
        failed: runs.iter().map(|(r, _)| r.failed).sum(),
    }
}

pub async fn run(ctx: &Ctx) -> Result<Vec<Row>, BenchError> {
    let s = settings(ctx.quick);
    let blackbox = match &ctx.blackbox_bin {
        Some(bin) => Some(Blackbox::start(bin, &ctx.work).await?),
        None => None,
    };
    let mut rows = Vec::new();
    for case in CASES {
        for &conc in &CONCURRENCY {
            let delay_ms = if case.responder == Responder::Sim(layout::HTTP_SLOW) {
                (0.9 * conc as f64 / s.rate * 1000.0) as u64
            } else {
                0
            };
            let addr = AddrPlan::Spread {
                base: BASE,
                port: PORT,
            }
            .addr(0)
            .ok_or_else(|| BenchError::Child("no responder address".into()))?;
            let sims = match case.responder {
                Responder::Sim(letter) => {
                    Some(SimFleet::start(&letter.to_string(), BASE, PORT, delay_ms, 1).await?)
                }
                Responder::Kernel => None,
            };
            let target = match case.responder {
                Responder::Sim(layout::TCP) => target_string(EndpointKind::Tcp, addr),
                Responder::Sim(layout::DNS) => target_string(EndpointKind::Dns, addr),
                Responder::Sim(_) => target_string(EndpointKind::Http, addr),
                Responder::Kernel => addr.ip().to_string(),
            };
            eprintln!(
                "probe cost: {} at concurrency {conc}, {} probes at {}/s, {} run(s)",
                case.kind, s.probes, s.rate, s.runs
            );
            let mut cw = Vec::new();
            let mut bb = Vec::new();
            for _ in 0..s.runs {
                cw.push(commwatch_run(case.kind, &target, &s, conc).await?);
                if let Some(b) = &blackbox {
                    bb.push(blackbox_run(b, case, &target, &s, conc).await?);
                }
            }
            if let Some(sims) = sims {
                sims.stop().await;
            }
            let commwatch = side(&cw);
            let blackbox_exporter = (!bb.is_empty()).then(|| side(&bb));
            let ratio = blackbox_exporter
                .as_ref()
                .map(|b| commwatch.cpu_s_per_1000 / b.cpu_s_per_1000.max(1e-9));
            rows.push(Row {
                kind: case.kind,
                concurrency: conc,
                probes: s.probes,
                paced_rate: s.rate,
                responder_delay_ms: delay_ms,
                commwatch,
                blackbox_exporter,
                ratio,
            });
        }
    }
    if let Some(b) = blackbox {
        b.stop().await;
    }
    Ok(rows)
}

async fn commwatch_run(
    kind: &str,
    target: &str,
    s: &Settings,
    conc: usize,
) -> Result<(LoadResult, f64), BenchError> {
    let args: Vec<String> = [
        "load",
        "--kind",
        kind,
        "--target",
        target,
        "--probes",
        &s.probes.to_string(),
        "--rate",
        &s.rate.to_string(),
        "--concurrency",
        &conc.to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let w = run_worker(&args, "probe worker", Duration::from_secs(600)).await?;
    let r: LoadResult = serde_json::from_str(&w.done)?;
    Ok((r, w.cpu_s))
}

async fn blackbox_run(
    b: &Blackbox,
    case: &Case,
    target: &str,
    s: &Settings,
    conc: usize,
) -> Result<(LoadResult, f64), BenchError> {
    let module = case.blackbox_module;
    let t = target.to_string();
    paced(WARMUP, s.rate, conc, |_| b.probe(module, &t)).await;
    let cpu0 = os::cpu_seconds(b.pid()).map_err(|e| BenchError::io("reading CPU", e))?;
    let r = paced(s.probes, s.rate, conc, |_| b.probe(module, &t)).await;
    let cpu1 = os::cpu_seconds(b.pid()).map_err(|e| BenchError::io("reading CPU", e))?;
    Ok((r, cpu1 - cpu0))
}

/// The `load` verb: runs in its own process so its CPU time is commwatch's prober alone
/// (the protocol is [`serve_once`]'s).
pub async fn worker(
    kind: &str,
    target: &str,
    probes: u64,
    rate: f64,
    conc: usize,
) -> Result<(), BenchError> {
    let spec = match kind {
        "http" => ProbeSpec::Http(HttpSpec::get(
            url::Url::parse(target).map_err(|e| BenchError::Child(e.to_string()))?,
        )),
        "tcp" => ProbeSpec::Tcp(TcpSpec {
            address: HostPort::parse(target).map_err(BenchError::Child)?,
            send: None,
            expect: None,
        }),
        // One echo per probe, as blackbox_exporter's icmp prober sends.
        "icmp" => ProbeSpec::Icmp(IcmpSpec {
            host: target.to_string(),
            count: 1,
            spacing: Duration::from_secs(1),
        }),
        "dns" => ProbeSpec::Dns(DnsSpec {
            server: target
                .parse()
                .map_err(|e| BenchError::Child(format!("DNS server `{target}`: {e}")))?,
            query: DNS_QUERY.to_string(),
            record: RecordKind::A,
            transport: DnsTransport::Udp,
        }),
        other => return Err(BenchError::Child(format!("unknown probe kind `{other}`"))),
    };
    let prober = std::sync::Arc::new(Prober::new()?);
    let spec = std::sync::Arc::new(spec);
    let op = |_| {
        let (p, s) = (prober.clone(), spec.clone());
        async move { p.run(&s, PROBE_TIMEOUT).await.error.is_none() }
    };
    paced(WARMUP, rate, conc, op).await;
    serve_once(|| paced(probes, rate, conc, op)).await
}

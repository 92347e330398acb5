//! ICMP probe for real: echo bursts to 127.0.0.1, 127.0.0.2 and ::1, and measured loss through
//! a pair of network namespaces created by the test, joined by a veth pair, where an `nft` rule
//! drops a share of the echo requests. The measured loss must fall in the binomial range of the
//! injected rate. Needs root (raw sockets, namespaces); without it each test fails under CI and says why
//! on stderr elsewhere.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use commwatch::probe::{ErrorCode, IcmpFacts};
use support::{failing, probe, prober, target_timed};

/// Root can open raw sockets and create namespaces; see `support::needs`.
fn root_or_skip(test: &str) -> bool {
    support::needs::root(test, "raw ICMP sockets and network namespaces")
}

fn icmp_target(host: &str, extra: &str) -> commwatch::config::Target {
    target_timed(
        &format!("id = \"ping\"\nkind = \"icmp\"\nhost = \"{host}\""),
        "2s",
        extra,
    )
}

async fn burst_ok(host: &str) -> IcmpFacts {
    let t = icmp_target(
        host,
        "count = 5\nspacing = \"20ms\"\nchecks = ['loss <= 0', 'received >= 5', 'rtt_p50 < 100ms']",
    );
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(
        sample.ok,
        "{host}: {:?} {:?}",
        obs.error_detail, sample.checks
    );
    obs.facts.icmp.expect("icmp facts")
}

#[tokio::test]
async fn loopback_v4_answers_every_request() {
    if !root_or_skip("loopback_v4_answers_every_request") {
        return;
    }
    for host in ["127.0.0.1", "127.0.0.2", "localhost"] {
        let f = burst_ok(host).await;
        assert_eq!((f.sent, f.received), (5, 5));
        assert_eq!(f.loss, 0.0);
        assert!(f.address.is_loopback());
        assert!(matches!(f.socket, "raw" | "datagram"));
        let (min, med, max) = (
            f.rtt_min.unwrap(),
            f.rtt_median.unwrap(),
            f.rtt_max.unwrap(),
        );
        assert!(min <= med && med <= max);
        assert!(f.rtt_avg.is_some() && f.jitter.is_some());
    }
}

#[tokio::test]
async fn loopback_v6_answers_every_request() {
    if !root_or_skip("loopback_v6_answers_every_request") {
        return;
    }
    let f = burst_ok("::1").await;
    assert_eq!((f.sent, f.received), (5, 5));
    assert!(f.address.is_ipv6());
}

#[tokio::test]
async fn bursts_share_one_client_and_never_collide() {
    if !root_or_skip("bursts_share_one_client_and_never_collide") {
        return;
    }
    // Many overlapping bursts to the same host through one prober: sequence numbers come from
    // one process-wide counter, so no request is refused as a duplicate.
    let p = prober();
    let t = icmp_target("127.0.0.1", "count = 10\nspacing = \"10ms\"");
    let runs = (0..20).map(|_| probe(&p, &t));
    for (obs, sample) in futures_util::future::join_all(runs).await {
        assert!(sample.ok, "{:?}", obs.error_detail);
        assert_eq!(obs.facts.icmp.map(|f| f.received), Some(10));
    }
}

/// Namespaces and their veth pair; removed on drop, also when an assertion fails.
struct Netns {
    a: String,
    b: String,
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Netns {
    /// Namespace A (10.213.0.1/30) and B (10.213.0.2/30), linked by veth. The addresses exist
    /// only inside these two namespaces: nothing is routed anywhere else.
    fn create() -> Result<Netns, String> {
        // Unique per process and per call: tests run in parallel.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id() % 100_000);
        let ns = Netns {
            a: format!("cw-loss-a-{id}"),
            b: format!("cw-loss-b-{id}"),
        };
        let (va, vb) = (format!("cwa{id}"), format!("cwb{id}"));
        sh(&["ip", "netns", "add", &ns.a])?;
        sh(&["ip", "netns", "add", &ns.b])?;
        sh(&[
            "ip", "link", "add", &va, "netns", &ns.a, "type", "veth", "peer", "name", &vb, "netns",
            &ns.b,
        ])?;
        sh(&[
            "ip",
            "-n",
            &ns.a,
            "addr",
            "add",
            "10.213.0.1/30",
            "dev",
            &va,
        ])?;
        sh(&[
            "ip",
            "-n",
            &ns.b,
            "addr",
            "add",
            "10.213.0.2/30",
            "dev",
            &vb,
        ])?;
        for (n, dev) in [(&ns.a, &va), (&ns.b, &vb)] {
            sh(&["ip", "-n", n, "link", "set", dev, "up"])?;
            sh(&["ip", "-n", n, "link", "set", "lo", "up"])?;
        }
        Ok(ns)
    }

    /// Drops `percent` % of the echo requests arriving in namespace B, at random.
    fn drop_echo_requests(&self, percent: u32) -> Result<(), String> {
        let matcher = if percent >= 100 {
            String::new()
        } else {
            format!("numgen random mod 100 < {percent} ")
        };
        let rules = format!(
            "table inet cwloss {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    icmp type echo-request {matcher}drop\n  }}\n}}\n"
        );
        let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        std::fs::write(file.path(), rules).map_err(|e| e.to_string())?;
        let path = file.path().to_string_lossy().into_owned();
        sh(&["ip", "netns", "exec", &self.b, "nft", "-f", &path])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace removes its end of the veth pair, and so the pair.
        let _ = sh(&["ip", "netns", "del", &self.a]);
        let _ = sh(&["ip", "netns", "del", &self.b]);
    }
}

/// Runs `bursts` ICMP probes to 10.213.0.2 from inside namespace A, on a thread that joined it
/// (network namespaces are per thread; the prober's socket is created there).
fn bursts_from(ns: &str, bursts: u32) -> Vec<IcmpFacts> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open netns");
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a valid namespace fd affects only this thread.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let p = prober();
            let t = icmp_target(
                "10.213.0.2",
                "count = 100\nspacing = \"10ms\"\ntimeout = \"1500ms\"\ndegraded = ['loss <= 5%']",
            );
            let mut out = Vec::new();
            for _ in 0..bursts {
                let (obs, sample) = probe(&p, &t).await;
                let f = obs.facts.icmp.clone().expect("facts");
                if f.loss > 0.05 {
                    assert!(sample.ok && sample.degraded, "{:?}", sample);
                    assert!(failing(&sample)[0].starts_with("loss ("));
                }
                out.push(f);
            }
            out
        })
    })
    .join()
    .expect("probe thread")
}

#[test]
fn measured_loss_matches_the_injected_rate() {
    if !root_or_skip("measured_loss_matches_the_injected_rate") {
        return;
    }
    let ns = Netns::create().expect("create namespaces (needs ip and root)");

    // Before the rule: a clean link.
    let clean = bursts_from(&ns.a, 1);
    assert_eq!(clean[0].loss, 0.0, "{:?}", clean[0]);

    const RATE: f64 = 0.30;
    ns.drop_echo_requests(30)
        .expect("nft rule (install nftables)");
    let facts = bursts_from(&ns.a, 3);
    let sent: u32 = facts.iter().map(|f| f.sent).sum();
    let received: u32 = facts.iter().map(|f| f.received).sum();
    assert_eq!(sent, 300);
    let n = f64::from(sent);
    let lost = f64::from(sent - received);
    // Five standard deviations of Binomial(n, p): a false alarm is about one in 3.5 million.
    let sd = (n * RATE * (1.0 - RATE)).sqrt();
    let (lo, hi) = (n * RATE - 5.0 * sd, n * RATE + 5.0 * sd);
    eprintln!(
        "injected {RATE}, measured {lost}/{n} = {:.3} (bounds {lo:.0}..{hi:.0})",
        lost / n
    );
    assert!(
        lo <= lost && lost <= hi,
        "lost {lost} of {n}, outside {lo:.0}..{hi:.0}"
    );
    // The per-burst ratio agrees with the counts.
    for f in &facts {
        let expect = f64::from(f.sent - f.received) / f64::from(f.sent);
        assert!((f.loss - expect).abs() < 1e-9);
    }
}

#[tokio::test]
async fn no_reply_is_a_timeout_with_facts() {
    if !root_or_skip("no_reply_is_a_timeout_with_facts") {
        return;
    }
    let ns = Netns::create().expect("namespaces");
    ns.drop_echo_requests(100).expect("nft rule");
    let path = format!("/var/run/netns/{}", ns.a);
    let (obs, sample) = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open netns");
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a valid namespace fd affects only this thread.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let t = icmp_target(
                "10.213.0.2",
                "count = 3\nspacing = \"50ms\"\ntimeout = \"500ms\"",
            );
            probe(&prober(), &t).await
        })
    })
    .join()
    .expect("thread");
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::Timeout));
    let f = obs.facts.icmp.expect("facts kept on failure");
    assert_eq!((f.sent, f.received, f.loss), (3, 0, 1.0));
    assert!(obs.duration < Duration::from_secs(1));
}

/// A ping with its socket bound to a vantage point's own address (`source_address`) is
/// answered (the reply must come back to that address), and a source of the other family is
/// refused before anything is sent. Which address the echo left from is shown for TCP, HTTP,
/// DNS and SIP in tests/source_address.rs, where the server sees it.
#[tokio::test]
async fn a_ping_leaves_from_the_source_address() {
    if !root_or_skip("a_ping_leaves_from_the_source_address") {
        return;
    }
    let t = icmp_target(
        "127.0.0.1",
        "count = 3\nspacing = \"20ms\"\nsource_address = \"127.0.0.21\"\nchecks = ['received >= 3']",
    );
    assert_eq!(t.source_address, Some("127.0.0.21".parse().unwrap()));
    let prober = prober();
    let obs = prober.run_from(&t.spec, t.timeout, t.source_address).await;
    let sample = t.judge(&obs);
    assert!(sample.ok, "{:?} {:?}", obs.error_detail, sample.checks);
    let other = prober
        .run_from(&t.spec, t.timeout, Some("::1".parse().unwrap()))
        .await;
    assert_eq!(other.error, Some(commwatch::probe::ErrorCode::Unreachable));
    assert!(
        other
            .error_detail
            .as_deref()
            .unwrap_or("")
            .contains("another address family"),
        "{:?}",
        other.error_detail
    );
}

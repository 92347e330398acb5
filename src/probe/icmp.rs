//! ICMP probe: a burst of `count` echo requests spaced by `spacing`, reporting sent, received,
//! loss ratio, RTT min/avg/median/max and jitter — the way Smokeping measures a link, not the
//! single packet of a blackbox exporter, which cannot see loss at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use serde::Serialize;
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};

use super::keys::{Key, Resolve};
use super::vocab::{KindVocab, Metric, TextFact};
use super::{ErrorCode, Observation, Run, resolve_one};

pub const DEFAULT_COUNT: u32 = 5;
pub const DEFAULT_SPACING: Duration = Duration::from_secs(1);
/// 56 bytes of payload, the size `ping` and `fping` send.
const PAYLOAD: [u8; 56] = [0; 56];

/// Sequence numbers for every echo request this process sends. On datagram sockets the kernel
/// owns the identifier, so two requests in flight to one host must differ in sequence or the
/// second is refused (`IdenticalRequests`); a process-wide counter guarantees that across
/// targets that share a host and across overlapping probes. It is a property of the socket, not
/// of application state, hence a static.
static SEQUENCE: AtomicU16 = AtomicU16::new(0);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpSpec {
    /// An IP address or a host name (resolved at each probe).
    pub host: String,
    pub count: u32,
    pub spacing: Duration,
}

/// What a burst of echo requests showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IcmpFacts {
    pub address: IpAddr,
    /// `raw` or `datagram`: which kind of ICMP socket this process uses.
    pub socket: &'static str,
    pub sent: u32,
    pub received: u32,
    /// Lost share of the requests sent, 0.0 to 1.0.
    pub loss: f64,
    #[serde(
        with = "super::observation::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub rtt_min: Option<Duration>,
    #[serde(
        with = "super::observation::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub rtt_avg: Option<Duration>,
    #[serde(
        with = "super::observation::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub rtt_median: Option<Duration>,
    #[serde(
        with = "super::observation::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub rtt_max: Option<Duration>,
    /// Mean absolute difference of successive round-trip times (needs two replies).
    #[serde(
        with = "super::observation::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub jitter: Option<Duration>,
}

impl IcmpFacts {
    /// For people (`commwatch probe`): address and socket kind, packets, round-trip times.
    pub(super) fn describe(&self, line: &mut dyn FnMut(&str, String)) {
        let ms = |d: Duration| crate::time::fmt_secs(d.as_secs_f64());
        let opt = |d: Option<Duration>| d.map_or_else(|| "-".to_string(), ms);
        line(
            "address",
            format!("{} ({} socket)", self.address, self.socket),
        );
        line(
            "packets",
            format!(
                "{} sent, {} received, loss {:.2}",
                self.sent, self.received, self.loss
            ),
        );
        line(
            "rtt",
            format!(
                "min {} / avg {} / median {} / max {}, jitter {}",
                opt(self.rtt_min),
                opt(self.rtt_avg),
                opt(self.rtt_median),
                opt(self.rtt_max),
                opt(self.jitter)
            ),
        );
    }
}

/// One ICMP client per address family for the whole process: a raw socket sees every ICMP
/// packet on the host, so more than one would each parse everyone's replies. Created on first
/// use, inside the runtime that runs the probes (the client spawns its receive task there).
pub(super) struct IcmpProber {
    /// One client per family and source address (`None`: the system's choice): a raw socket
    /// sees every ICMP packet on the host, so they are few and shared by all probes.
    v4: Mutex<HashMap<Option<IpAddr>, Client>>,
    v6: Mutex<HashMap<Option<IpAddr>, Client>>,
    /// Our identifier on raw sockets (datagram sockets get one from the kernel).
    ident: u16,
}

impl IcmpProber {
    pub(super) fn new() -> IcmpProber {
        IcmpProber {
            v4: Mutex::new(HashMap::new()),
            v6: Mutex::new(HashMap::new()),
            ident: rand::random(),
        }
    }

    fn client(
        &self,
        v6: bool,
        source: Option<IpAddr>,
    ) -> Result<(Client, &'static str), (ErrorCode, String)> {
        let slot = if v6 { &self.v6 } else { &self.v4 };
        // A poisoned lock only means a panic between two assignments; the map is whole.
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = guard.get(&source) {
            return Ok((c.clone(), socket_kind(c)));
        }
        let kind = if v6 { ICMP::V6 } else { ICMP::V4 };
        let mut config = Config::builder().kind(kind);
        if let Some(ip) = source {
            config = config.bind(std::net::SocketAddr::new(ip, 0));
        }
        // Failures are not cached: permission can be granted while the daemon runs.
        let client = Client::new(&config.build()).map_err(|e| {
            let code = ErrorCode::from_io(&e);
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default();
            let detail = if e.kind() == std::io::ErrorKind::PermissionDenied {
                format!(
                    "cannot open an ICMP socket ({first}). Grant it with \
                     `setcap cap_net_raw+ep /path/to/commwatch` (or AmbientCapabilities=CAP_NET_RAW \
                     in the systemd unit), or allow unprivileged ping sockets with \
                     `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`"
                )
            } else {
                format!("cannot open an ICMP socket: {first}")
            };
            (code, detail)
        })?;
        let socket = socket_kind(&client);
        widen_receive_buffer(&client);
        if !v6 && socket == "raw" {
            filter_raw_v4(&client);
        }
        tracing::info!(
            family = if v6 { "ipv6" } else { "ipv4" },
            socket,
            "ICMP client ready"
        );
        guard.insert(source, client.clone());
        Ok((client, socket))
    }

    pub(super) async fn probe(&self, spec: &IcmpSpec, run: &Run) -> Observation {
        let mut obs = run.observation();
        let ip = match spec.host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => match resolve_one(&spec.host, 0, run, &mut obs).await {
                Some(a) => a.ip(),
                None => return obs,
            },
        };
        if let Some(src) = run.source
            && src.is_ipv6() != ip.is_ipv6()
        {
            obs.fail(
                ErrorCode::Unreachable,
                format!("source address {src} cannot reach {ip} (another address family)"),
            );
            return obs;
        }
        let (client, socket) = match self.client(ip.is_ipv6(), run.source) {
            Ok(c) => c,
            Err((code, detail)) => {
                obs.fail(code, detail);
                return obs;
            }
        };
        let start = tokio::time::Instant::now();
        let echoes = (0..spec.count).map(|i| {
            let client = &client;
            async move {
                let send_at = start + spec.spacing * i;
                if send_at >= run.deadline {
                    return Echo::NotSent;
                }
                tokio::time::sleep_until(send_at).await;
                let mut pinger = client.pinger(ip, PingIdentifier(self.ident)).await;
                pinger.timeout(
                    run.deadline
                        .saturating_duration_since(tokio::time::Instant::now()),
                );
                let seq = PingSequence(SEQUENCE.fetch_add(1, Ordering::Relaxed));
                match pinger.ping(seq, &PAYLOAD).await {
                    Ok((_, rtt)) => Echo::Reply(rtt),
                    Err(SurgeError::Timeout { .. }) => Echo::Lost,
                    Err(e) => Echo::Failed(e.to_string(), code_of(&e)),
                }
            }
        });
        let results = futures_util::future::join_all(echoes).await;
        let facts = summarise(ip, socket, &results);
        if facts.received == 0 {
            let failed = results.iter().find_map(|r| match r {
                Echo::Failed(d, c) => Some((d.clone(), *c)),
                _ => None,
            });
            match failed {
                Some((detail, code)) => obs.fail(code, format!("ping {ip}: {detail}")),
                None => obs.fail(
                    ErrorCode::Timeout,
                    format!(
                        "no reply to {} echo request(s) to {ip} within {}",
                        facts.sent,
                        run.timeout_text()
                    ),
                ),
            }
        }
        obs.facts.icmp = Some(facts);
        obs
    }
}

/// Receive buffer asked for on the ICMP socket (the kernel caps it at `net.core.rmem_max`).
const RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// Thousands of targets probed in the same instant answer within a millisecond or two. The
/// default receive buffer (about 200 KiB: a few hundred packets on a raw socket, which also
/// sees every other ICMP packet on the host) overflowed in a 2,000-address sweep and counted
/// a third of the answered echoes as lost. A failure here only leaves the default in place.
fn widen_receive_buffer(c: &Client) {
    use std::os::fd::BorrowedFd;
    let fd = c.get_socket().get_native_sock();
    // SAFETY: the descriptor belongs to `c`, which outlives this borrow.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    if let Err(e) = socket2::SockRef::from(&borrowed).set_recv_buffer_size(RECEIVE_BUFFER) {
        tracing::warn!(error = %e, "cannot widen the ICMP receive buffer");
    }
}

/// `ICMP_FILTER` (linux/icmp.h), an option at the `SOL_RAW` level of raw IPv4 ICMP sockets:
/// a bit set for each ICMP type the kernel should not deliver.
const ICMP_FILTER: libc::c_int = 1;

/// A raw socket is handed every ICMP packet the host sees, our own echo requests included on
/// loopback. Only echo replies and the errors that explain a lost echo (destination
/// unreachable, time exceeded, parameter problem) are let through, so the receive buffer holds
/// answers rather than noise. A failure only leaves every type coming in, as before.
fn filter_raw_v4(c: &Client) {
    const KEEP: [u32; 4] = [0, 3, 11, 12];
    let blocked: u32 = !KEEP.iter().fold(0u32, |m, t| m | (1 << t));
    let fd = c.get_socket().get_native_sock();
    // SAFETY: `fd` is the client's open socket; the option value is a valid u32 for the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_RAW,
            ICMP_FILTER,
            (&blocked as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if r != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot filter the raw ICMP socket");
    }
}

fn socket_kind(c: &Client) -> &'static str {
    if c.get_socket().get_type() == socket2::Type::RAW {
        "raw"
    } else {
        "datagram"
    }
}

fn code_of(e: &SurgeError) -> ErrorCode {
    match e {
        SurgeError::IOError(io) => ErrorCode::from_io(io),
        SurgeError::Timeout { .. } => ErrorCode::Timeout,
        SurgeError::NetworkError => ErrorCode::Unreachable,
        _ => ErrorCode::IoError,
    }
}

/// The fate of one echo request.
#[derive(Debug, Clone, PartialEq)]
enum Echo {
    Reply(Duration),
    Lost,
    /// Not sent: the deadline came first.
    NotSent,
    Failed(String, ErrorCode),
}

fn summarise(address: IpAddr, socket: &'static str, results: &[Echo]) -> IcmpFacts {
    let sent = results.iter().filter(|r| **r != Echo::NotSent).count() as u32;
    let rtts: Vec<Duration> = results
        .iter()
        .filter_map(|r| match r {
            Echo::Reply(d) => Some(*d),
            _ => None,
        })
        .collect();
    let received = rtts.len() as u32;
    let loss = if sent == 0 {
        1.0
    } else {
        f64::from(sent - received) / f64::from(sent)
    };
    let mut sorted = rtts.clone();
    sorted.sort();
    let median = match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    };
    let avg = (!rtts.is_empty()).then(|| rtts.iter().sum::<Duration>() / received);
    let jitter = (rtts.len() >= 2).then(|| {
        let total: Duration = rtts.windows(2).map(|w| w[0].abs_diff(w[1])).sum();
        total / (rtts.len() as u32 - 1)
    });
    IcmpFacts {
        address,
        socket,
        sent,
        received,
        loss,
        rtt_min: sorted.first().copied(),
        rtt_avg: avg,
        rtt_median: median,
        rtt_max: sorted.last().copied(),
        jitter,
    }
}

// The icmp kind's config keys and check vocabulary.

/// What the icmp kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "icmp",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys an icmp target may set.
pub const KEYS: &[Key] = &[Key::Host, Key::Count, Key::Spacing];
/// The numbers checks may read on an icmp target.
pub const METRICS: &[Metric] = &[
    Metric::Sent,
    Metric::Received,
    Metric::Loss,
    Metric::RttMin,
    Metric::RttAvg,
    Metric::RttP50,
    Metric::RttMax,
    Metric::Jitter,
    Metric::Latency,
];
/// What checks may compare as text on an icmp target: nothing, pings report numbers.
pub const TEXTS: &[TextFact] = &[];

const MAX_COUNT: u32 = 100;
const MIN_SPACING: Duration = Duration::from_millis(10);

/// Resolves an icmp target's keys to its spec; the burst must fit in the target's timeout.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<IcmpSpec> {
    let k = r.keys;
    let timeout = r.timeout;
    let host = r.need("icmp", "a `host` (an IP address or a name)", k.host)?;
    let host_ok = host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    if !host_ok {
        r.err(
            Key::Host,
            format!("`{host}` is not an IP address or a host name"),
        );
    }
    let count = k.count.unwrap_or(DEFAULT_COUNT);
    if count == 0 || count > MAX_COUNT {
        r.err(
            Key::Count,
            format!("must be between 1 and {MAX_COUNT}, got {count}"),
        );
    }
    let spacing = k.spacing.unwrap_or(DEFAULT_SPACING);
    if spacing < MIN_SPACING {
        r.err(
            Key::Spacing,
            format!(
                "{} is below the minimum of 10ms",
                humantime::format_duration(spacing)
            ),
        );
    } else if count > 0 && spacing * (count - 1) >= timeout {
        // The last request must leave time for its reply.
        let key = if k.spacing.is_some() {
            Key::Spacing
        } else {
            Key::Count
        };
        r.err(
            key,
            format!(
                "{count} echo requests {} apart do not fit in the timeout of {}",
                humantime::format_duration(spacing),
                humantime::format_duration(timeout)
            ),
        );
    }
    host_ok.then(|| IcmpSpec {
        host: host.to_string(),
        count,
        spacing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn summary_counts_loss_and_orders_rtts() {
        let r = [
            Echo::Reply(ms(10)),
            Echo::Lost,
            Echo::Reply(ms(30)),
            Echo::Reply(ms(20)),
            Echo::NotSent,
        ];
        let f = summarise(IpAddr::from([127, 0, 0, 1]), "raw", &r);
        assert_eq!((f.sent, f.received), (4, 3));
        assert!((f.loss - 0.25).abs() < 1e-9);
        assert_eq!(f.rtt_min, Some(ms(10)));
        assert_eq!(f.rtt_max, Some(ms(30)));
        assert_eq!(f.rtt_median, Some(ms(20)));
        assert_eq!(f.rtt_avg, Some(ms(20)));
        // |10-30| + |30-20| = 30 over 2 differences.
        assert_eq!(f.jitter, Some(ms(15)));
    }

    #[test]
    fn summary_of_total_loss_has_no_rtt() {
        let f = summarise(
            IpAddr::from([127, 0, 0, 1]),
            "raw",
            &[Echo::Lost, Echo::Lost],
        );
        assert_eq!(f.loss, 1.0);
        assert_eq!(f.rtt_median, None);
        assert_eq!(f.jitter, None);
        let even = summarise(
            IpAddr::from([127, 0, 0, 1]),
            "raw",
            &[Echo::Reply(ms(10)), Echo::Reply(ms(20))],
        );
        assert_eq!(even.rtt_median, Some(ms(15)));
    }
}

//! SIP probe: an OPTIONS request to a VoIP gateway or switch over UDP or TCP (RFC 3261 §11),
//! reporting the final status code and the round trip. Over UDP the request is retransmitted on
//! SIP's timer A schedule (500 ms, doubling) until the deadline, as any SIP client would.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use super::keys::{Key, Resolve};
use super::vocab::{KindVocab, Metric, StatusExpect, TextFact};
use super::{ErrorCode, HostPort, Observation, Run, connect_addr, excerpt, resolve_one};

/// SIP's T1: the first UDP retransmission interval.
const T1: Duration = Duration::from_millis(500);
/// Largest response read; OPTIONS answers are a few hundred bytes.
const MAX_RESPONSE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipTransport {
    Udp,
    Tcp,
}

impl fmt::Display for SipTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipSpec {
    pub address: HostPort,
    pub transport: SipTransport,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SipFacts {
    pub status: u16,
    pub reason: String,
    /// The `Server` or `User-Agent` header, when the peer names itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// UDP retransmissions before the answer.
    pub retransmits: u32,
}

impl SipFacts {
    /// For people (`commwatch probe`): the final OPTIONS response and how many retransmits it took.
    pub(super) fn describe(&self, line: &mut dyn FnMut(&str, String)) {
        line("sip", format!("{} {}", self.status, self.reason));
        if let Some(server) = &self.server {
            line("server", server.clone());
        }
        line("retransmits", self.retransmits.to_string());
    }
}

/// The parts of a request that the response must echo.
struct Request {
    text: String,
    call_id: String,
    branch: String,
}

fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn build_request(spec: &SipSpec, local: SocketAddr) -> Request {
    let branch = format!("z9hG4bK{}", token());
    let call_id = format!("{}@commwatch", token());
    let tag = token();
    let transport = match spec.transport {
        SipTransport::Udp => "UDP",
        SipTransport::Tcp => "TCP",
    };
    let target = format!("sip:{}", spec.address);
    let text = format!(
        "OPTIONS {target} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:commwatch@{local}>;tag={tag}\r\n\
         To: <{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:commwatch@{local};transport={}>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: commwatch/{}\r\n\
         Content-Length: 0\r\n\r\n",
        transport.to_ascii_lowercase(),
        env!("CARGO_PKG_VERSION"),
    );
    Request {
        text,
        call_id,
        branch,
    }
}

/// A parsed response head.
#[derive(Debug, PartialEq)]
struct Response {
    status: u16,
    reason: String,
    call_id: Option<String>,
    branch_ok: bool,
    server: Option<String>,
}

/// Parses a response head; `None` when it is not a SIP response at all.
fn parse_response(bytes: &[u8], branch: &str) -> Option<Response> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("SIP/2.0 ")?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status: u16 = code.parse().ok().filter(|c| (100..700).contains(c))?;
    let mut call_id = None;
    let mut branch_ok = false;
    let mut server = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "call-id" | "i" => call_id = Some(value.to_string()),
            "via" | "v" => branch_ok |= value.contains(branch),
            "server" | "user-agent" => server = Some(excerpt(value.as_bytes(), 120)),
            _ => {}
        }
    }
    Some(Response {
        status,
        reason: reason.to_string(),
        call_id,
        branch_ok,
        server,
    })
}

pub(super) async fn probe(spec: &SipSpec, run: &Run) -> Observation {
    let mut obs = run.observation();
    let Some(addr) = resolve_one(&spec.address.host, spec.address.port, run, &mut obs).await else {
        return obs;
    };
    match spec.transport {
        SipTransport::Udp => over_udp(spec, addr, run, &mut obs).await,
        SipTransport::Tcp => over_tcp(spec, addr, run, &mut obs).await,
    }
    obs
}

/// Records a final response (or a mismatched one) in the observation.
fn accept(
    resp: Response,
    req: &Request,
    retransmits: u32,
    run: &Run,
    obs: &mut Observation,
    sent_at: Duration,
) {
    if resp.call_id.as_deref() != Some(req.call_id.as_str()) || !resp.branch_ok {
        obs.fail(
            ErrorCode::ProtocolError,
            format!(
                "answer {} {} does not belong to our request (Call-ID or Via branch differ)",
                resp.status, resp.reason
            ),
        );
    }
    obs.phases.first_byte = Some(run.start.elapsed().saturating_sub(sent_at));
    obs.facts.sip = Some(SipFacts {
        status: resp.status,
        reason: resp.reason,
        server: resp.server,
        retransmits,
    });
}

async fn over_udp(spec: &SipSpec, addr: SocketAddr, run: &Run, obs: &mut Observation) {
    let bind = run.udp_bind(&addr);
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            obs.fail(
                ErrorCode::from_io(&e),
                format!("cannot open a UDP socket: {e}"),
            );
            return;
        }
    };
    if let Err(e) = socket.connect(addr).await {
        obs.fail(ErrorCode::from_io(&e), format!("UDP to {addr}: {e}"));
        return;
    }
    obs.facts.remote_addr = Some(addr);
    let local = socket.local_addr().unwrap_or(bind);
    let req = build_request(spec, local);
    let sent_at = run.start.elapsed();
    let mut retransmits = 0u32;
    let mut wait = T1;
    let mut buf = vec![0u8; MAX_RESPONSE];
    loop {
        if let Err(e) = socket.send(req.text.as_bytes()).await {
            obs.fail(
                ErrorCode::from_io(&e),
                format!("sending OPTIONS to {addr}: {e}"),
            );
            return;
        }
        let resend_at = tokio::time::Instant::now() + wait;
        // Read until a final answer, the resend time, or the deadline.
        loop {
            let until = resend_at.min(run.deadline);
            match tokio::time::timeout_at(until, socket.recv(&mut buf)).await {
                Err(_) if until == run.deadline => {
                    obs.fail(
                        ErrorCode::Timeout,
                        format!(
                            "no SIP answer from {addr} within {} ({retransmits} retransmissions)",
                            run.timeout_text()
                        ),
                    );
                    return;
                }
                Err(_) => break,
                Ok(Err(e)) => {
                    // An ICMP port unreachable surfaces here as "connection refused".
                    obs.fail(ErrorCode::from_io(&e), format!("OPTIONS to {addr}: {e}"));
                    return;
                }
                Ok(Ok(n)) => match parse_response(&buf[..n], &req.branch) {
                    // 1xx is provisional: keep waiting for the final answer.
                    Some(r) if r.status < 200 => {}
                    Some(r) => return accept(r, &req, retransmits, run, obs, sent_at),
                    None => {} // not SIP: ignore, as a SIP stack would
                },
            }
        }
        retransmits += 1;
        // Timer A doubles; RFC 3261 caps non-INVITE retransmissions at T2 = 4 s.
        wait = (wait * 2).min(Duration::from_secs(4));
    }
}

async fn over_tcp(spec: &SipSpec, addr: SocketAddr, run: &Run, obs: &mut Observation) {
    let Some(mut stream) = connect_addr(addr, run, obs).await else {
        return;
    };
    let local = stream.local_addr().unwrap_or(addr);
    let req = build_request(spec, local);
    let sent_at = run.start.elapsed();
    match run.within(stream.write_all(req.text.as_bytes())).await {
        None => {
            obs.fail(ErrorCode::Timeout, "could not send OPTIONS in time");
            return;
        }
        Some(Err(e)) => {
            obs.fail(
                ErrorCode::from_io(&e),
                format!("sending OPTIONS to {addr}: {e}"),
            );
            return;
        }
        Some(Ok(())) => {}
    }
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        // Responses on a stream are framed by the blank line (Content-Length: 0 for OPTIONS
        // answers without a body; a body is not needed to judge the status).
        while let Some(end) = find_head_end(&buf) {
            let head: Vec<u8> = buf.drain(..end).collect();
            match parse_response(&head, &req.branch) {
                Some(r) if r.status < 200 => {}
                Some(r) => return accept(r, &req, 0, run, obs, sent_at),
                None => {
                    obs.fail(
                        ErrorCode::ProtocolError,
                        format!("not a SIP response: {}", excerpt(&head, 80)),
                    );
                    return;
                }
            }
        }
        if buf.len() >= MAX_RESPONSE {
            obs.fail(ErrorCode::ProtocolError, "SIP response head too large");
            return;
        }
        match run.within(stream.read(&mut chunk)).await {
            None => {
                obs.fail(
                    ErrorCode::Timeout,
                    format!("no SIP answer from {addr} within {}", run.timeout_text()),
                );
                return;
            }
            Some(Err(e)) => {
                obs.fail(ErrorCode::from_io(&e), format!("reading from {addr}: {e}"));
                return;
            }
            Some(Ok(0)) => {
                obs.fail(
                    ErrorCode::ConnReset,
                    format!("{addr} closed the connection without a final answer"),
                );
                return;
            }
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The length of the first message head (including the blank line) in `buf`, if complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

// The sip kind's config keys and check vocabulary.

/// What the sip kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "sip",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys a sip target may set.
pub const KEYS: &[Key] = &[Key::ExpectStatus, Key::Address, Key::Transport];
/// The numbers checks may read on a sip target.
pub const METRICS: &[Metric] = &[
    Metric::Status,
    Metric::Latency,
    Metric::Dns,
    Metric::Connect,
    Metric::FirstByte,
];
/// What checks may compare as text on a sip target: nothing beyond the numbers.
pub const TEXTS: &[TextFact] = &[];

/// The final response that counts as healthy unless `expect_status` says otherwise.
const DEFAULT_STATUS: u16 = 200;

/// Resolves a sip target's keys to its spec; `expect_status` implies the status check.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<SipSpec> {
    let address = r.address("sip");
    let transport = r.transport(SipTransport::Udp, SipTransport::Tcp);
    r.expect_status("a SIP", 699, StatusExpect::OneOf(vec![DEFAULT_STATUS]));
    Some(SipSpec {
        address: address?,
        transport: transport?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_well_formed() {
        let spec = SipSpec {
            address: HostPort::parse("127.0.0.1:5060").unwrap(),
            transport: SipTransport::Udp,
        };
        let req = build_request(&spec, "127.0.0.1:40000".parse().unwrap());
        let t = &req.text;
        assert!(t.starts_with("OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"));
        assert!(t.contains(&format!(
            "Via: SIP/2.0/UDP 127.0.0.1:40000;branch={};rport\r\n",
            req.branch
        )));
        assert!(req.branch.starts_with("z9hG4bK"));
        assert!(t.contains("Max-Forwards: 70\r\n"));
        assert!(t.contains(";tag="));
        assert!(t.contains(&format!("Call-ID: {}\r\n", req.call_id)));
        assert!(t.contains("CSeq: 1 OPTIONS\r\n"));
        assert!(t.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn responses_parse_and_match() {
        let r = parse_response(
            b"SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKabc\r\ni: x@y\r\nServer: Kamailio\r\n\r\n",
            "z9hG4bKabc",
        )
        .unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.reason, "Service Unavailable");
        assert_eq!(r.call_id.as_deref(), Some("x@y"));
        assert!(r.branch_ok);
        assert_eq!(r.server.as_deref(), Some("Kamailio"));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n", "z").is_none());
        assert!(parse_response(b"SIP/2.0 abc x\r\n\r\n", "z").is_none());
    }
}

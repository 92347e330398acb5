//! TCP probe: resolve, complete a three-way handshake, then an optional dialogue — send bytes,
//! and read until the reply matches a regex (an SMTP `220`, POP3 `+OK` or IMAP `* OK` banner).

use regex::bytes::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::keys::{Key, Resolve};
use super::vocab::{KindVocab, Metric, TextFact};
use super::{ErrorCode, HostPort, Observation, Run, connect_host, excerpt};

/// Replies are read up to this many bytes while looking for a match: banners are short, and a
/// service that streams endlessly must not hold memory.
const REPLY_CAP: usize = 16 * 1024;
/// How much of the reply is kept as a fact.
const REPLY_EXCERPT: usize = 256;

#[derive(Debug, Clone)]
pub struct TcpSpec {
    pub address: HostPort,
    /// Bytes written right after connecting (TOML escapes such as `\r\n` already applied).
    pub send: Option<String>,
    /// The reply must match this before the deadline.
    pub expect: Option<Regex>,
}

impl PartialEq for TcpSpec {
    fn eq(&self, other: &Self) -> bool {
        self.address == other.address
            && self.send == other.send
            && self.expect.as_ref().map(Regex::as_str) == other.expect.as_ref().map(Regex::as_str)
    }
}

impl Eq for TcpSpec {}

pub(super) async fn probe(spec: &TcpSpec, run: &Run) -> Observation {
    let mut obs = run.observation();
    let Some(mut stream) = connect_host(&spec.address, run, &mut obs).await else {
        return obs;
    };
    let before = run.start.elapsed();
    if let Some(send) = &spec.send {
        match run.within(stream.write_all(send.as_bytes())).await {
            None => {
                obs.fail(ErrorCode::Timeout, "could not send the request in time");
                return obs;
            }
            Some(Err(e)) => {
                obs.fail(ErrorCode::from_io(&e), format!("sending the request: {e}"));
                return obs;
            }
            Some(Ok(())) => {}
        }
    }
    let Some(expect) = &spec.expect else {
        return obs;
    };
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    loop {
        if expect.is_match(&buf) {
            obs.phases.first_byte = Some(run.start.elapsed().saturating_sub(before));
            break;
        }
        if buf.len() >= REPLY_CAP {
            obs.fail(
                ErrorCode::ProtocolError,
                format!(
                    "{} bytes read without a match for /{}/",
                    buf.len(),
                    expect.as_str()
                ),
            );
            break;
        }
        match run.within(stream.read(&mut chunk)).await {
            None => {
                let what = if buf.is_empty() {
                    "connected, but the service said nothing".to_string()
                } else {
                    format!("the reply did not match /{}/", expect.as_str())
                };
                obs.fail(
                    ErrorCode::Timeout,
                    format!("{what} within {}", run.timeout_text()),
                );
                break;
            }
            Some(Err(e)) => {
                obs.fail(ErrorCode::from_io(&e), format!("reading the reply: {e}"));
                break;
            }
            Some(Ok(0)) => {
                obs.fail(
                    ErrorCode::ProtocolError,
                    format!(
                        "connection closed after {} bytes without a match for /{}/",
                        buf.len(),
                        expect.as_str()
                    ),
                );
                break;
            }
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if !buf.is_empty() {
        obs.facts.reply = Some(excerpt(&buf, REPLY_EXCERPT));
    }
    obs
}

// The tcp kind's config keys and check vocabulary.

/// What the tcp kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "tcp",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys a tcp target may set.
pub const KEYS: &[Key] = &[Key::Address, Key::Send, Key::Expect];
/// The numbers checks may read on a tcp target.
pub const METRICS: &[Metric] = &[
    Metric::Latency,
    Metric::Dns,
    Metric::Connect,
    Metric::FirstByte,
];
/// What checks may compare as text on a tcp target.
pub const TEXTS: &[TextFact] = &[TextFact::Reply];

/// Resolves a tcp target's keys to its spec.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<TcpSpec> {
    let k = r.keys;
    let address = r.address("tcp");
    let expect = match k.expect.map(Regex::new) {
        None => None,
        Some(Ok(re)) => Some(re),
        Some(Err(e)) => {
            r.err(Key::Expect, format!("bad regex: {e}"));
            None
        }
    };
    if k.send == Some("") {
        r.err(
            Key::Send,
            "must not be empty (leave it out to send nothing)",
        );
    }
    Some(TcpSpec {
        address: address?,
        send: k.send.map(str::to_string),
        expect,
    })
}

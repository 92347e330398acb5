//! HTTP probe over a connection we open ourselves (hyper's HTTP/1.1 client on our own TCP and
//! TLS streams), so each phase is timed exactly: `dns`, `connect`, `tls`, `first_byte` (request
//! written to response head) and `transfer` (head to end of body, or to the body cap). Phases
//! describe the final request when redirects are followed; the duration covers them all.

use std::error::Error as _;
use std::path::PathBuf;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::certs::{TlsClients, TlsStep};
use super::keys::{Key, Resolve};
use super::vocab::{KindVocab, Metric, StatusExpect, TextFact};
use super::{ErrorCode, Observation, ProberError, Run, connect_addr, resolve_one};
use hyper::header::{HeaderName, HeaderValue};

/// Default body cap: enough for any status page or JSON health document.
pub const DEFAULT_BODY_CAP: u64 = 1 << 20;
/// Response headers kept as facts, and the length of each value kept.
const MAX_HEADERS: usize = 64;
const MAX_HEADER_VALUE: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub url: url::Url,
    pub method: Method,
    /// Request headers (from the `headers` table, sorted by name).
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Redirects to follow; 0 reports the 3xx itself.
    pub max_redirects: u32,
    /// Verify the server certificate (default). Off, certificate problems are only reported.
    pub verify: bool,
    pub ca_file: Option<PathBuf>,
    /// Bytes of body read at most; the rest is not downloaded.
    pub body_cap: u64,
    /// Keep the body text for checks (set when a check reads `body` or `json`).
    pub keep_body: bool,
}

impl HttpSpec {
    /// A plain GET with the defaults, as the foundation's configs write it.
    pub fn get(url: url::Url) -> HttpSpec {
        HttpSpec {
            url,
            method: Method::GET,
            headers: Vec::new(),
            body: None,
            max_redirects: DEFAULT_REDIRECTS,
            verify: true,
            ca_file: None,
            body_cap: DEFAULT_BODY_CAP,
            keep_body: false,
        }
    }
}

pub(super) struct HttpProber {
    user_agent: String,
}

/// What one request/response exchange ended with.
enum Hop {
    /// Follow this redirect.
    Redirect(url::Url, StatusCode),
    Done,
}

/// Aborts the spawned connection driver when the exchange ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HttpProber {
    pub(super) fn new() -> Result<HttpProber, ProberError> {
        Ok(HttpProber {
            user_agent: concat!("commwatch/", env!("CARGO_PKG_VERSION")).to_string(),
        })
    }

    pub(super) async fn probe(&self, spec: &HttpSpec, tls: &TlsClients, run: &Run) -> Observation {
        let mut obs = run.observation();
        let mut url = spec.url.clone();
        let mut method = spec.method.clone();
        let mut redirects = 0u32;
        loop {
            // Phases describe the last request only.
            obs.phases = super::Phases::default();
            match self.hop(spec, &url, &method, tls, run, &mut obs).await {
                None | Some(Hop::Done) => break,
                Some(Hop::Redirect(next, status)) => {
                    if redirects >= spec.max_redirects {
                        obs.fail(
                            ErrorCode::ProtocolError,
                            format!(
                                "stopped after {redirects} redirects (last: {status} to {next})"
                            ),
                        );
                        break;
                    }
                    redirects += 1;
                    // 303, and 301/302 after a POST, turn into a GET as browsers do.
                    if status == StatusCode::SEE_OTHER
                        || (method == Method::POST
                            && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND))
                    {
                        method = Method::GET;
                    }
                    url = next;
                }
            }
        }
        if redirects > 0 {
            obs.facts.redirects = Some(redirects);
            obs.facts.final_url = Some(url.to_string());
        }
        obs
    }

    /// One request on a fresh connection. `None` means the observation already holds a failure.
    async fn hop(
        &self,
        spec: &HttpSpec,
        url: &url::Url,
        method: &Method,
        tls: &TlsClients,
        run: &Run,
        obs: &mut Observation,
    ) -> Option<Hop> {
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => {
                obs.fail(ErrorCode::ProtocolError, format!("{url} has no host"));
                return None;
            }
        };
        let Some(port) = url.port_or_known_default() else {
            obs.fail(ErrorCode::ProtocolError, format!("{url} has no port"));
            return None;
        };
        let addr = resolve_one(&host, port, run, obs).await?;
        let tcp = connect_addr(addr, run, obs).await?;
        if url.scheme() == "https" {
            let step = TlsStep {
                server_name: &host,
                ca_file: spec.ca_file.as_deref(),
                http: true,
                verify: spec.verify,
            };
            let stream = tls.handshake_phase(tcp, step, run, obs).await?;
            self.exchange(stream, spec, url, method, run, obs).await
        } else {
            self.exchange(tcp, spec, url, method, run, obs).await
        }
    }

    async fn exchange<IO>(
        &self,
        io: IO,
        spec: &HttpSpec,
        url: &url::Url,
        method: &Method,
        run: &Run,
        obs: &mut Observation,
    ) -> Option<Hop>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = match run
            .within(hyper::client::conn::http1::handshake(TokioIo::new(io)))
            .await
        {
            None => {
                obs.fail(ErrorCode::Timeout, "HTTP connection setup timed out");
                return None;
            }
            Some(Err(e)) => {
                let (code, detail) = classify(&e);
                obs.fail(code, detail);
                return None;
            }
            Some(Ok(x)) => x,
        };
        let _driver = AbortOnDrop(tokio::spawn(async move {
            // Errors surface through the request future; nothing to add here.
            let _ = conn.await;
        }));

        let req = match self.request(spec, url, method) {
            Ok(r) => r,
            Err(e) => {
                obs.fail(
                    ErrorCode::ProtocolError,
                    format!("cannot build the request: {e}"),
                );
                return None;
            }
        };
        let before = run.start.elapsed();
        let response = match run.within(sender.send_request(req)).await {
            None => {
                obs.fail(
                    ErrorCode::Timeout,
                    format!(
                        "connected, but no response headers within {}",
                        run.timeout_text()
                    ),
                );
                return None;
            }
            Some(Err(e)) => {
                let (code, detail) = classify(&e);
                obs.fail(code, detail);
                return None;
            }
            Some(Ok(r)) => r,
        };
        let head_at = run.start.elapsed();
        obs.phases.first_byte = Some(head_at.saturating_sub(before));
        let status = response.status();
        obs.facts.http_status = Some(status.as_u16());
        obs.facts.http_version = Some(format!("{:?}", response.version()));
        obs.facts.headers = response
            .headers()
            .iter()
            .take(MAX_HEADERS)
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes());
                (
                    k.as_str().to_string(),
                    v.chars().take(MAX_HEADER_VALUE).collect(),
                )
            })
            .collect();

        if status.is_redirection() && spec.max_redirects > 0 {
            let location = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            if let Some(loc) = location {
                match url.join(loc) {
                    Ok(next) if matches!(next.scheme(), "http" | "https") => {
                        return Some(Hop::Redirect(next, status));
                    }
                    _ => {
                        obs.fail(
                            ErrorCode::ProtocolError,
                            format!("redirect to an unusable location `{loc}`"),
                        );
                        return None;
                    }
                }
            }
        }

        let mut body = response.into_body();
        let mut kept: Vec<u8> = Vec::new();
        let mut read: u64 = 0;
        loop {
            match run.within(body.frame()).await {
                None => {
                    obs.fail(
                        ErrorCode::Timeout,
                        format!(
                            "status {status} received, but the body was not complete within {} ({read} bytes read)",
                            run.timeout_text()
                        ),
                    );
                    break;
                }
                Some(None) => break,
                Some(Some(Err(e))) => {
                    let (code, detail) = classify(&e);
                    obs.fail(code, format!("reading the body: {detail}"));
                    break;
                }
                Some(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    let room = spec.body_cap.saturating_sub(read);
                    let take = (data.len() as u64).min(room) as usize;
                    if spec.keep_body {
                        kept.extend_from_slice(&data[..take]);
                    }
                    read += take as u64;
                    if (data.len() as u64) > room {
                        obs.facts.body_truncated = true;
                        break;
                    }
                }
            }
        }
        obs.facts.body_bytes = Some(read);
        obs.phases.transfer = Some(run.start.elapsed().saturating_sub(head_at));
        if spec.keep_body {
            obs.facts.body = Some(String::from_utf8_lossy(&kept).into_owned());
        }
        Some(Hop::Done)
    }

    fn request(
        &self,
        spec: &HttpSpec,
        url: &url::Url,
        method: &Method,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let host = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let mut b = Request::builder()
            .method(method.clone())
            .uri(if path.is_empty() { "/" } else { path })
            .header(hyper::header::HOST, authority);
        // A `User-Agent` in the target's headers replaces ours instead of being sent twice.
        if !spec
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        {
            b = b.header(hyper::header::USER_AGENT, self.user_agent.as_str());
        }
        b = b
            .header(hyper::header::ACCEPT, "*/*")
            // One request per connection: the next probe measures a fresh connect again.
            .header(hyper::header::CONNECTION, "close");
        for (k, v) in &spec.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        // A redirected GET carries no body.
        let body = match (&spec.body, method == Method::GET || method == Method::HEAD) {
            (Some(body), false) => Bytes::from(body.clone()),
            _ => Bytes::new(),
        };
        b.body(Full::new(body))
    }
}

/// Maps a hyper error to a bounded code by walking its causes; the full text is the detail.
fn classify(e: &hyper::Error) -> (ErrorCode, String) {
    let mut detail = e.to_string();
    let mut code = None;
    let mut source = e.source();
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        if code.is_none()
            && let Some(io) = s.downcast_ref::<std::io::Error>()
        {
            code = Some(ErrorCode::from_io(io));
        }
        source = s.source();
    }
    let code = code.unwrap_or(if e.is_incomplete_message() || e.is_closed() {
        ErrorCode::ConnReset
    } else if e.is_timeout() {
        ErrorCode::Timeout
    } else {
        ErrorCode::ProtocolError
    });
    (code, detail)
}

// The http kind's config keys and check vocabulary.

/// What the http kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "http",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys an http target may set.
pub const KEYS: &[Key] = &[
    Key::Url,
    Key::ExpectStatus,
    Key::Method,
    Key::Headers,
    Key::Body,
    Key::Redirects,
    Key::MaxBodyBytes,
    Key::TlsVerify,
    Key::CaFile,
];
/// The numbers checks may read on an http target.
pub const METRICS: &[Metric] = &[
    Metric::Status,
    Metric::BodyBytes,
    Metric::CertDays,
    Metric::Latency,
    Metric::Dns,
    Metric::Connect,
    Metric::Tls,
    Metric::FirstByte,
    Metric::Transfer,
];
/// What checks may compare as text on an http target.
pub const TEXTS: &[TextFact] = &[TextFact::Body, TextFact::Header, TextFact::Json];

/// Redirects followed unless `redirects` says otherwise (documented in the example configs).
const DEFAULT_REDIRECTS: u32 = 5;
const MAX_REDIRECTS: u32 = 20;
const MAX_BODY_BYTES: u64 = 64 << 20;

/// Resolves an http target's keys to its spec; `expect_status` implies the status check.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<HttpSpec> {
    from_keys_as(r, "http")
}

/// As [`from_keys`] for a kind that fetches a page over HTTP (`portal`), named in messages.
pub(super) fn from_keys_as(r: &mut Resolve<'_, '_>, kind: &str) -> Option<HttpSpec> {
    let k = r.keys;
    let u = r.need(kind, "a `url`", k.url)?.to_string();
    let url = match url::Url::parse(&u) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Some(parsed)
        }
        Ok(_) => {
            r.err(
                Key::Url,
                format!("`{u}` must be an http:// or https:// URL with a host"),
            );
            None
        }
        Err(e) => {
            r.err(Key::Url, format!("`{u}` is not a valid URL: {e}"));
            None
        }
    };
    r.expect_status("an HTTP", 599, StatusExpect::Success);
    let method = match k.method.map(str::to_ascii_uppercase) {
        None => Method::GET,
        Some(m) => match m.as_str() {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => {
                Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET)
            }
            _ => {
                r.err(
                    Key::Method,
                    format!("`{m}` is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
                );
                Method::GET
            }
        },
    };
    if k.body.is_some() && matches!(method, Method::GET | Method::HEAD) {
        r.err(
            Key::Body,
            format!("a body needs method POST, PUT or PATCH, not {method}"),
        );
    }
    let mut headers = Vec::new();
    for (name, v) in k.headers.into_iter().flatten() {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            r.err(Key::Headers, format!("`{name}` is not a valid header name"));
        } else if HeaderValue::from_str(v).is_err() {
            r.err(
                Key::Headers,
                format!("the value of `{name}` is not a valid header value"),
            );
        } else if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
            r.err(
                Key::Headers,
                format!("`{name}` is set by commwatch from the URL and body"),
            );
        } else {
            headers.push((name.clone(), v.clone()));
        }
    }
    let max_redirects = k.redirects.unwrap_or(DEFAULT_REDIRECTS);
    if max_redirects > MAX_REDIRECTS {
        r.err(
            Key::Redirects,
            format!("at most {MAX_REDIRECTS}, got {max_redirects}"),
        );
    }
    let body_cap = k.max_body_bytes.unwrap_or(DEFAULT_BODY_CAP);
    if body_cap == 0 || body_cap > MAX_BODY_BYTES {
        r.err(
            Key::MaxBodyBytes,
            format!("must be between 1 and {MAX_BODY_BYTES}, got {body_cap}"),
        );
    }
    let ca_file = r.ca_file();
    url.map(|url| HttpSpec {
        method,
        headers,
        body: k.body.map(str::to_string),
        max_redirects,
        verify: k.tls_verify.unwrap_or(true),
        ca_file,
        body_cap,
        ..HttpSpec::get(url)
    })
}

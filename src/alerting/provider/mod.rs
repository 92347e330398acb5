//! Receivers: each kind has one file that turns a [`Notification`] into an HTTP request (or,
//! for e-mail, an SMTP transaction); this file holds the one `match` over kinds and the shared
//! sending and response classification.

mod alertmanager;
pub mod email;
mod slack;
mod telegram;
pub mod template;
mod webhook;
mod zalo;

use std::time::Duration;

use super::model::Notification;
use crate::config::alerting::{Receiver, ReceiverKind};

/// A request ready to send. The body is final bytes (a signature covers exactly them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// 5xx, 408, 429, timeouts, connection errors: try again (after `after` if the receiver
    /// said when).
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    /// Other 4xx and rejected payloads: retrying cannot help; the message goes to the dead
    /// letters, which the page and metrics show.
    Fatal {
        status: Option<u16>,
        error: String,
    },
}

/// Why no request could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The receiver's template failed for this message (it rendered at load, so a field
    /// took a shape the samples did not have).
    #[error("the receiver's template failed: {0}")]
    Template(#[from] crate::config::alerting::template::TemplateError),
    /// E-mail is sent over SMTP, not as an HTTP request.
    #[error("receiver kind `{0}` is not sent over HTTP")]
    NotHttp(&'static str),
}

/// Builds the HTTP request for `n` to receiver `r`.
pub fn build(r: &Receiver, n: &Notification) -> Result<Request, BuildError> {
    Ok(match &r.kind {
        ReceiverKind::Webhook {
            url,
            headers,
            hmac_secret,
            body,
        } => webhook::build(url, headers, hmac_secret.as_deref(), body.as_ref(), n)?,
        ReceiverKind::Slack { url } => slack::build(url, n),
        ReceiverKind::Telegram {
            api_url,
            bot_token,
            chat_id,
        } => telegram::build(api_url, bot_token, chat_id, n),
        ReceiverKind::Zalo {
            api_url,
            access_token,
            recipient,
        } => zalo::build(api_url, access_token, recipient, n),
        ReceiverKind::Alertmanager { url, .. } => alertmanager::build(url, n),
        ReceiverKind::Email(_) => return Err(BuildError::NotHttp(r.kind.name())),
    })
}

/// `path` under a configured base URL, keeping any path prefix the base has (a proxy's
/// `/zalo/`), with or without its trailing slash.
pub(crate) fn endpoint(base: &url::Url, path: &str) -> url::Url {
    let mut b = base.clone();
    if !b.path().ends_with('/') {
        let p = format!("{}/", b.path());
        b.set_path(&p);
    }
    // "./" keeps a first segment with a colon (Telegram's `bot123:ABC`) from reading as a
    // scheme. Joining a relative path onto an http(s) base cannot fail; keep the base if it does.
    b.join(&format!("./{}", path.trim_start_matches('/')))
        .unwrap_or(b)
}

/// Longest wait a receiver may ask for with Retry-After.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);

/// `Retry-After`: delay-seconds or an HTTP date.
fn retry_after(v: &str) -> Option<Duration> {
    let d = match v.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
            (at.with_timezone(&chrono::Utc) - crate::time::now_ms())
                .to_std()
                .ok()?
        }
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// Classifies an HTTP answer by status alone.
pub fn classify(status: u16, retry_after_header: Option<&str>, body: &str) -> Outcome {
    let snippet: String = body.chars().take(300).collect();
    match status {
        200..=299 => Outcome::Delivered { status },
        429 => Outcome::Retry {
            status: Some(status),
            error: format!("rate limited: {snippet}"),
            after: retry_after_header.and_then(retry_after),
        },
        408 | 500..=599 => Outcome::Retry {
            status: Some(status),
            error: format!("HTTP {status}: {snippet}"),
            after: retry_after_header.and_then(retry_after),
        },
        _ => Outcome::Fatal {
            status: Some(status),
            error: format!("HTTP {status}: {snippet}"),
        },
    }
}

/// Sends one message. Never panics; every failure is an [`Outcome`].
pub async fn send(client: &reqwest::Client, r: &Receiver, n: &Notification) -> Outcome {
    if let ReceiverKind::Email(settings) = &r.kind {
        return email::send(settings, r.timeout, n).await;
    }
    let req = match build(r, n) {
        Ok(req) => req,
        // The same message fails the same way next time: a dead letter an officer can see.
        Err(e) => {
            return Outcome::Fatal {
                status: None,
                error: e.to_string(),
            };
        }
    };
    let mut b = client
        .post(req.url.clone())
        .timeout(r.timeout)
        .body(req.body);
    for (k, v) in &req.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let resp = match b.send().await {
        Ok(resp) => resp,
        // A request that cannot even be built (a header value the HTTP library refuses) fails
        // the same way every time: retrying it would hold every later message to this receiver.
        Err(e) if e.is_builder() => {
            return Outcome::Fatal {
                status: None,
                error: format!("the request cannot be sent: {e}"),
            };
        }
        Err(e) => {
            return Outcome::Retry {
                status: None,
                error: if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    format!("cannot reach receiver: {e}")
                },
                after: None,
            };
        }
    };
    let status = resp.status().as_u16();
    let ra = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Bodies are read only to explain failures and for APIs that answer 200 with an error.
    let body = resp.text().await.unwrap_or_default();
    match &r.kind {
        ReceiverKind::Telegram { .. } => telegram::interpret(status, ra.as_deref(), &body),
        ReceiverKind::Zalo { .. } => zalo::interpret(status, ra.as_deref(), &body),
        _ => classify(status, ra.as_deref(), &body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_prefixes_and_colons() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            endpoint(&u("https://api.telegram.org"), "bot1:A/sendMessage").as_str(),
            "https://api.telegram.org/bot1:A/sendMessage"
        );
        assert_eq!(
            endpoint(&u("http://127.0.0.1:9093/am"), "api/v2/alerts").as_str(),
            "http://127.0.0.1:9093/am/api/v2/alerts"
        );
        assert_eq!(
            endpoint(&u("http://127.0.0.1:9093/am/"), "/api/v2/alerts").as_str(),
            "http://127.0.0.1:9093/am/api/v2/alerts"
        );
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(204, None, ""), Outcome::Delivered { status: 204 });
        assert!(matches!(classify(503, None, ""), Outcome::Retry { .. }));
        assert!(matches!(classify(400, None, "bad"), Outcome::Fatal { .. }));
        match classify(429, Some("7"), "") {
            Outcome::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(7))),
            o => panic!("{o:?}"),
        }
        match classify(429, Some("99999"), "") {
            Outcome::Retry { after, .. } => assert_eq!(after, Some(MAX_RETRY_AFTER)),
            o => panic!("{o:?}"),
        }
    }
}

//! E-mail over SMTP (STARTTLS, implicit TLS, or plain to a local relay): one message per
//! notification, Vietnamese subject and body as plain text and HTML, a `Message-ID` made from
//! the idempotency key so a resend is recognisable, and SMTP replies classified for retries.

use std::time::Duration;

use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::Outcome;
use crate::alerting::model::Notification;
use crate::config::alerting::{EmailSettings, Language, SmtpTls, read_password};

/// Why a message could not be written (the addresses were checked at load, so this is rare).
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("bad address `{0}`: {1}")]
    Address(String, lettre::address::AddressError),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
}

fn mailbox(s: &str) -> Result<Mailbox, MessageError> {
    s.parse()
        .map_err(|e| MessageError::Address(s.to_string(), e))
}

/// `<key@domain-of-from>`: the same notification sent twice carries the same id, which mail
/// systems and people can deduplicate on; `In-Reply-To` the group id threads a group's
/// messages together.
fn msg_id(local: &str, from: &Mailbox) -> String {
    format!("<{local}@{}>", from.email.domain())
}

/// The e-mail for `n`.
pub fn message(s: &EmailSettings, n: &Notification) -> Result<Message, MessageError> {
    let from = mailbox(&s.from)?;
    let mut b = Message::builder()
        .from(from.clone())
        .subject(n.title())
        .message_id(Some(msg_id(&n.idempotency_key, &from)))
        .in_reply_to(msg_id(&n.id, &from))
        .references(msg_id(&n.id, &from))
        .date(std::time::SystemTime::from(n.created_at));
    for to in &s.to {
        b = b.to(mailbox(to)?);
    }
    Ok(b.multipart(MultiPart::alternative_plain_html(plain(n), html(n)))?)
}

fn link_words(n: &Notification) -> &'static str {
    match n.language {
        Language::Vi => "Trang trạng thái",
        Language::En => "Status page",
    }
}

fn plain(n: &Notification) -> String {
    let mut s = n.text();
    if let Some(link) = n.link("/") {
        s.push_str(&format!("\n\n{}: {link}", link_words(n)));
    }
    s.push('\n');
    s
}

/// Every value goes through maud, which escapes it: target names and causes are typed by
/// people and must not become markup in a mail client.
fn html(n: &Notification) -> String {
    let lang = match n.language {
        Language::Vi => "vi",
        Language::En => "en",
    };
    let title = n.title();
    maud::html! {
        (maud::DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                title { (title) }
            }
            body style="font-family: sans-serif" {
                h2 { (title) }
                @for line in n.lines() {
                    p style="margin: 0.2em 0" { (line) }
                }
                @if let Some(link) = n.link("/") {
                    p { a href=(link) { (link_words(n)) } }
                }
            }
        }
    }
    .into_string()
}

/// The relay's transport for one message. Reading the password here, not at load, lets an
/// operator rotate it without a reload; it is never logged.
fn transport(
    s: &EmailSettings,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
        .port(s.port)
        .timeout(Some(timeout));
    if s.tls != SmtpTls::None {
        let mut params = TlsParameters::builder(s.host.clone());
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("cannot read CA file {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("bad CA file {}: {e}", ca.display()))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        b = b.tls(match s.tls {
            SmtpTls::Implicit => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    if let (Some(user), Some(file)) = (&s.username, &s.password_file) {
        let pw = read_password(file)?;
        b = b.credentials(Credentials::new(user.clone(), pw));
    }
    Ok(b.build())
}

/// Sends `n` and classifies what the relay said. 5xx replies are permanent (a rejected
/// recipient, a refused login, a message too large): retrying cannot help, so the message
/// goes to the dead letters with the relay's words. 4xx (421 included), timeouts and
/// connection failures are temporary.
pub async fn send(s: &EmailSettings, timeout: Duration, n: &Notification) -> Outcome {
    let msg = match message(s, n) {
        Ok(m) => m,
        Err(e) => {
            return Outcome::Fatal {
                status: None,
                error: e.to_string(),
            };
        }
    };
    let t = match transport(s, timeout) {
        Ok(t) => t,
        Err(error) => {
            return Outcome::Retry {
                status: None,
                error,
                after: None,
            };
        }
    };
    // lettre's timeout bounds each read and write; this bounds the whole transaction.
    let sent = tokio::time::timeout(timeout.saturating_mul(3), t.send(msg)).await;
    match sent {
        Err(_) => Outcome::Retry {
            status: None,
            error: "timed out".into(),
            after: None,
        },
        Ok(Ok(resp)) => Outcome::Delivered {
            status: u16::from(resp.code()),
        },
        Ok(Err(e)) => classify(&e),
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> Outcome {
    let status = e.status().map(u16::from);
    let text = e.to_string();
    if e.is_permanent() {
        let hint = if status == Some(535) {
            " (check `username` and `password_file`)"
        } else {
            ""
        };
        Outcome::Fatal {
            status,
            error: format!("SMTP relay refused the message: {text}{hint}"),
        }
    } else if e.is_transient() {
        Outcome::Retry {
            status,
            error: format!("SMTP relay asked to try later: {text}"),
            after: None,
        }
    } else if e.is_timeout() {
        Outcome::Retry {
            status: None,
            error: "timed out".into(),
            after: None,
        }
    } else {
        // Connection, TLS and protocol errors: the relay may be down or restarting.
        Outcome::Retry {
            status: None,
            error: format!("cannot reach the SMTP relay: {text}"),
            after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    // Tests unwrap: a panic is how a test reports a failure.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::alerting::model::{AlertTarget, DrillRef, Kind, Status};
    use crate::state::State;

    fn drill() -> Notification {
        let at = Utc.with_ymd_and_hms(2026, 9, 7, 6, 5, 0).single().unwrap();
        Notification {
            id: "cw-00000000000000aa".into(),
            idempotency_key: "cw-00000000000000aa-2".into(),
            receiver: "mail".into(),
            status: Status::Firing,
            kind: Kind::New,
            drill: Some(DrillRef {
                id: "dt-2026-09".into(),
                name: "Diễn tập <bão số 3>".into(),
            }),
            group: [("operator".to_string(), "vnpt".to_string())].into(),
            targets: vec![AlertTarget {
                id: "t1".into(),
                name: "VNPT — Kỳ Lạc".into(),
                labels: Default::default(),
                state: State::Down,
                status: Status::Firing,
                cause: Some("timeout & <no answer>".into()),
                started_at: at,
                ended_at: None,
                explains: Vec::new(),
                explained: Vec::new(),
                flapping: None,
                acknowledged_by: None,
            }],
            created_at: at,
            language: Language::Vi,
            external_url: Some("https://status.example.invalid".into()),
            monitor_isolated: None,
            max_listed: 20,
        }
    }

    fn settings() -> EmailSettings {
        EmailSettings {
            host: "127.0.0.1".into(),
            port: 25,
            tls: SmtpTls::None,
            from: "Commwatch <commwatch@stc.hatinh.gov.vn>".into(),
            to: vec!["truc-ban@stc.hatinh.gov.vn".into()],
            username: None,
            password_file: None,
            ca_file: None,
        }
    }

    #[test]
    fn a_drill_is_marked_in_the_subject_and_ids_come_from_the_message() {
        let m = message(&settings(), &drill()).unwrap();
        let h = m.headers();
        assert_eq!(
            h.get_raw("Subject"),
            Some("[DIỄN TẬP] 🔴 VNPT/VinaPhone: 1 mục tiêu mất liên lạc")
        );
        assert_eq!(
            h.get_raw("Message-ID"),
            Some("<cw-00000000000000aa-2@stc.hatinh.gov.vn>")
        );
        assert_eq!(
            h.get_raw("In-Reply-To"),
            Some("<cw-00000000000000aa@stc.hatinh.gov.vn>")
        );
        let html = html(&drill());
        assert!(html.contains("timeout &amp; &lt;no answer&gt;"), "{html}");
        assert!(html.contains("Diễn tập &lt;bão số 3&gt;"), "{html}");
        assert!(plain(&drill()).ends_with("Trang trạng thái: https://status.example.invalid/\n"));
    }
}

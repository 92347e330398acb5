//! Telegram Bot API `sendMessage` in HTML parse mode; every value is HTML-escaped.

use std::time::Duration;

use serde_json::json;

use super::{Outcome, Request, classify};
use crate::alerting::model::Notification;

/// Telegram's HTML mode understands only these entities.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Telegram refuses messages over 4,096 characters.
const MAX_CHARS: usize = 4_000;

pub fn build(api: &url::Url, token: &str, chat_id: &str, n: &Notification) -> Request {
    let mut text = format!("<b>{}</b>", escape(&n.title()));
    for l in n.lines() {
        text.push('\n');
        text.push_str(&escape(&l));
    }
    if let Some(link) = n.link("/") {
        text.push_str(&format!("\n<a href=\"{}\">commwatch</a>", escape(&link)));
    }
    if text.chars().count() > MAX_CHARS {
        // Cut at a line break so no entity is split.
        let cut: String = text.chars().take(MAX_CHARS).collect();
        text = match cut.rfind('\n') {
            Some(i) => format!("{}\n…", &cut[..i]),
            None => cut,
        };
    }
    // The token is part of the path by Telegram's design; a bad one is a 401/404 (dead letter).
    let url = super::endpoint(api, &format!("bot{token}/sendMessage"));
    let body = json!({
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "disable_web_page_preview": true,
    });
    Request {
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

/// Telegram says how long to wait in the body (`parameters.retry_after`) on 429.
pub fn interpret(status: u16, retry_after: Option<&str>, body: &str) -> Outcome {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if status == 429
        && let Some(secs) = v["parameters"]["retry_after"].as_u64()
    {
        return Outcome::Retry {
            status: Some(status),
            error: v["description"]
                .as_str()
                .unwrap_or("rate limited")
                .to_string(),
            after: Some(Duration::from_secs(secs.min(3_600))),
        };
    }
    if (200..300).contains(&status) && v["ok"] == false {
        return Outcome::Fatal {
            status: Some(status),
            error: v["description"]
                .as_str()
                .unwrap_or("telegram refused the message")
                .to_string(),
        };
    }
    classify(status, retry_after, body)
}

//! Zalo Official Account message API (`POST /v3.0/oa/message/cs`), the messenger most
//! Vietnamese officers use. The access token travels in the `access_token` header.

use serde_json::json;

use super::{Outcome, Request, classify};
use crate::alerting::model::Notification;

/// Zalo OA text messages are limited to 2,000 characters.
const MAX_CHARS: usize = 2_000;

pub fn build(api: &url::Url, access_token: &str, recipient: &str, n: &Notification) -> Request {
    let mut text = n.text();
    if let Some(link) = n.link("/") {
        text.push('\n');
        text.push_str(&link);
    }
    if text.chars().count() > MAX_CHARS {
        text = text.chars().take(MAX_CHARS - 1).collect::<String>() + "…";
    }
    let url = super::endpoint(api, "v3.0/oa/message/cs");
    let body = json!({
        "recipient": { "user_id": recipient },
        "message": { "text": text },
    });
    Request {
        url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("access_token".into(), access_token.to_string()),
        ],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

/// Zalo answers 200 with `{"error": N}`; 0 is success, anything else is refused.
pub fn interpret(status: u16, retry_after: Option<&str>, body: &str) -> Outcome {
    if (200..300).contains(&status) {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        return match v["error"].as_i64() {
            Some(0) | None => Outcome::Delivered { status },
            Some(code) => Outcome::Fatal {
                status: Some(status),
                error: format!("zalo error {code}: {}", v["message"].as_str().unwrap_or("")),
            },
        };
    }
    classify(status, retry_after, body)
}

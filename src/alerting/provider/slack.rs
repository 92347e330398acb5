//! Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat): `text` in mrkdwn.

use serde_json::json;

use super::Request;
use crate::alerting::model::{Notification, Status};

/// Slack's three control characters; everything else is literal.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn build(url: &url::Url, n: &Notification) -> Request {
    let mut text = format!("*{}*", escape(&n.title()));
    for l in n.lines() {
        text.push('\n');
        text.push_str(&escape(&l));
    }
    if let Some(link) = n.link("/") {
        text.push_str(&format!("\n<{link}|commwatch>"));
    }
    let color = match (n.status, n.drill.is_some()) {
        (_, true) => "#6f42c1",
        (Status::Firing, _) => "#d1242f",
        (Status::Resolved, _) => "#1a7f37",
    };
    let body = json!({
        "text": text,
        "attachments": [{ "color": color, "fallback": n.title() }],
    });
    Request {
        url: url.clone(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

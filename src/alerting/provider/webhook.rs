//! Generic webhook: our documented JSON payload or a body from the receiver's template (SMS
//! gateways, any HTTP API), templated headers, an idempotency key, and an optional
//! HMAC-SHA256 signature of the exact body bytes.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{Request, template};
use crate::alerting::model::Notification;
use crate::config::alerting::BodyTemplate;
use crate::config::alerting::template::{Escape, TemplateError, render};

/// The payload, version 1. Field names are a contract with receivers: extend, never rename.
pub fn payload(n: &Notification) -> serde_json::Value {
    let targets: Vec<serde_json::Value> = n
        .targets
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "labels": t.labels,
                "status": t.status,
                "state": t.state,
                "cause": t.cause,
                "started_at": t.started_at,
                "ended_at": t.ended_at,
                "explains": t.explains,
                "explained": t.explained,
                "flapping": t.flapping,
                "acknowledged_by": t.acknowledged_by,
                "link": n.link(&format!("/targets/{}", t.id)),
            })
        })
        .collect();
    json!({
        "version": "1",
        "id": n.id,
        "idempotency_key": n.idempotency_key,
        "receiver": n.receiver,
        "status": n.status,
        "kind": n.kind,
        "drill": n.drill.is_some(),
        "drill_id": n.drill.as_ref().map(|d| &d.id),
        "drill_name": n.drill.as_ref().map(|d| &d.name),
        "group": n.group,
        "title": n.title(),
        "text": n.text(),
        "language": n.language,
        "monitor_isolated": n.monitor_isolated,
        "summary": {
            "firing": n.firing().count(),
            "resolved": n.resolved().count(),
            "communes": n.firing_communes(),
        },
        "targets": targets,
        "created_at": n.created_at,
        "links": { "status_page": n.link("/") },
    })
}

pub fn build(
    url: &url::Url,
    headers: &BTreeMap<String, String>,
    secret: Option<&str>,
    template: Option<&BodyTemplate>,
    n: &Notification,
) -> Result<Request, TemplateError> {
    let fields = template::fields(n, template.and_then(|t| t.max_chars));
    let (body, content_type) = match template {
        None => (
            serde_json::to_vec(&payload(n)).unwrap_or_default(),
            "application/json".to_string(),
        ),
        Some(t) => {
            let escape = Escape::for_content_type(&t.content_type);
            let text = render("body_template", &t.source, escape, &fields)?;
            (text.into_bytes(), t.content_type.clone())
        }
    };
    let mut h: Vec<(String, String)> = vec![
        ("content-type".into(), content_type),
        ("idempotency-key".into(), n.idempotency_key.clone()),
    ];
    if let Some(secret) = secret {
        // new_from_slice accepts keys of any length for HMAC; the error arm cannot happen.
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            mac.update(&body);
            let sig: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            h.push(("x-commwatch-signature".into(), format!("sha256={sig}")));
        }
    }
    for (k, v) in headers {
        // A line break from a field would end the header, and any other control character
        // (page text can carry them) makes the value unsendable: values stay on one line of
        // printable characters.
        let value: String = render("headers", v, Escape::None, &fields)?
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        h.push((k.to_ascii_lowercase(), value));
    }
    Ok(Request {
        url: url.clone(),
        headers: h,
        body,
    })
}

//! Alertmanager `POST /api/v2/alerts`: one alert per target with labels and annotations, so an
//! HA Alertmanager cluster can route, inhibit, silence and deduplicate. Firing alerts are re-sent
//! (by the grouping stage) before Alertmanager's resolve_timeout; resolved ones carry `endsAt`.

use serde_json::json;

use super::Request;
use crate::alerting::model::{Notification, Status};
use crate::state::State;

pub fn build(base: &url::Url, n: &Notification) -> Request {
    let alerts: Vec<serde_json::Value> = n
        .targets
        .iter()
        .map(|t| {
            let name = match t.state {
                State::Degraded => "CommwatchTargetDegraded",
                _ => "CommwatchTargetDown",
            };
            let mut labels = serde_json::Map::new();
            labels.insert("alertname".into(), json!(name));
            labels.insert("target".into(), json!(t.id));
            for (k, v) in &t.labels {
                labels.insert(k.clone(), json!(v));
            }
            if let Some(d) = &n.drill {
                labels.insert("drill".into(), json!(d.id));
            }
            let mut alert = json!({
                "labels": labels,
                "annotations": {
                    "summary": n.title(),
                    "description": n.describe(t),
                    "name": t.name,
                },
                "startsAt": t.started_at,
            });
            if let Some(url) = n.link(&format!("/targets/{}", t.id)) {
                alert["generatorURL"] = json!(url);
            }
            if t.status == Status::Resolved {
                alert["endsAt"] = json!(t.ended_at.unwrap_or(n.created_at));
            }
            alert
        })
        .collect();
    let url = super::endpoint(base, "api/v2/alerts");
    Request {
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&alerts).unwrap_or_default(),
    }
}

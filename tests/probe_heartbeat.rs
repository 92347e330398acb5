//! Heartbeat targets end to end: a site pushes to `POST /api/v1/push/{target}` on a running
//! commwatch (loopback), and the heartbeat probe judges the pushes: on time, late, failing,
//! never seen. Tokens are checked per target.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// common for the daemon's [storage] (stores::storage_for_test); support for the probe
// helpers. Both load common/needs.rs, which is harmless.
#[allow(clippy::duplicate_mod)]
mod common;
mod support;

use std::time::Duration;

use chrono::Utc;
use commwatch::app::App;
use commwatch::config::Config;
use commwatch::probe::{HeartbeatRegistry, Push, PushStatus};
use support::{failing, probe, prober};

const TOKEN: &str = "s3cret-token-for-thach-ha";

struct Running {
    app: App,
    base: String,
    config: Config,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _db) = common::stores::storage_for_test(dir.path());
    let text = format!(
        r#"
{storage}
[[targets]]
id = "ht-thach-ha-generator"
kind = "heartbeat"
token = "{TOKEN}"
period = "60s"
grace = "30s"
interval = "10s"
timeout = "1s"

[[targets]]
id = "ht-portal"
kind = "tcp"
address = "127.0.0.1:9"
interval = "60s"
"#
    );
    let config = Config::from_str_at(&dir.path().join("commwatch.toml"), &text).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = App::start_with_listener(config.clone(), listener)
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    Running {
        app,
        base,
        config,
        _dir: dir,
    }
}

fn client() -> reqwest::Client {
    commwatch::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

impl Running {
    async fn probe(
        &self,
        registry: HeartbeatRegistry,
    ) -> (commwatch::probe::Observation, commwatch::check::Sample) {
        let t = self.config.target("ht-thach-ha-generator").unwrap();
        probe(&prober().with_heartbeats(registry), t).await
    }
}

#[tokio::test]
async fn push_on_time_is_healthy() {
    let r = start().await;
    let resp = client()
        .post(format!("{}/api/v1/push/ht-thach-ha-generator", r.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (obs, sample) = r.probe(r.app.state.heartbeats.clone()).await;
    assert!(sample.ok, "{:?}", sample.checks);
    let hb = obs.facts.heartbeat.expect("facts");
    assert_eq!(hb.pushes, 1);
    assert_eq!(hb.last.map(|p| p.status), Some(PushStatus::Ok));
    assert!(hb.age < Duration::from_secs(5));
    assert_eq!(hb.allowed_silence, Duration::from_secs(90));
    r.app.shutdown().await;
}

#[tokio::test]
async fn failing_push_fails_with_its_message() {
    let r = start().await;
    let c = client();
    let url = format!(
        "{}/api/v1/push/ht-thach-ha-generator?token={TOKEN}&status=fail&message=fuel%20low",
        r.base
    );
    assert_eq!(c.post(&url).send().await.unwrap().status(), 200);
    let (obs, sample) = r.probe(r.app.state.heartbeats.clone()).await;
    assert!(!sample.ok);
    assert_eq!(failing(&sample), ["push_status (fail) == ok"]);
    let last = obs.facts.heartbeat.and_then(|h| h.last).expect("push");
    assert_eq!(last.message.as_deref(), Some("fuel low"));

    // A JSON body works too, and a later ok push clears the failure.
    let resp = c
        .post(format!("{}/api/v1/push/ht-thach-ha-generator", r.base))
        .bearer_auth(TOKEN)
        .body(r#"{"status": "ok", "message": "back on grid"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, sample) = r.probe(r.app.state.heartbeats.clone()).await;
    assert!(sample.ok, "{:?}", sample.checks);
    r.app.shutdown().await;
}

#[tokio::test]
async fn late_push_fails_the_age_check() {
    let r = start().await;
    let registry = r.app.state.heartbeats.clone();
    registry.record(
        "ht-thach-ha-generator",
        Push {
            at: Utc::now() - chrono::Duration::seconds(125),
            status: PushStatus::Ok,
            message: None,
            battery: None,
        },
    );
    let (obs, sample) = r.probe(registry).await;
    assert!(!sample.ok);
    let age = obs.facts.heartbeat.map(|h| h.age).unwrap_or_default();
    assert!((124.9..125.5).contains(&age.as_secs_f64()), "{age:?}");
    let f = failing(&sample);
    assert_eq!(
        f,
        [format!(
            "push_age ({}) <= 90s",
            commwatch::check::fmt_secs(age.as_secs_f64())
        )]
    );
    r.app.shutdown().await;
}

#[tokio::test]
async fn no_push_since_start_fails_after_the_window() {
    let r = start().await;
    // Within the window after start, silence is not yet a failure ...
    let (_, sample) = r.probe(HeartbeatRegistry::new()).await;
    assert!(sample.ok, "{:?}", sample.checks);
    // ... past period + grace it is.
    let started = Utc::now() - chrono::Duration::seconds(300);
    let (obs, sample) = r.probe(HeartbeatRegistry::starting_at(started)).await;
    assert!(!sample.ok);
    let hb = obs.facts.heartbeat.expect("facts");
    assert_eq!(hb.pushes, 0);
    assert!(
        (299.9..300.5).contains(&hb.age.as_secs_f64()),
        "{:?}",
        hb.age
    );
    assert!(failing(&sample)[0].starts_with("push_age ("));
    assert!(failing(&sample)[0].ends_with(") <= 90s"));
    r.app.shutdown().await;
}

/// Devices that can only fetch a URL push with a GET: the token, status and message in the
/// query, the same checks and answers as a POST, and never a cached answer.
#[tokio::test]
async fn a_get_is_a_push_too() {
    let r = start().await;
    let c = client();
    let url = |q: &str| format!("{}/api/v1/push/ht-thach-ha-generator?{q}", r.base);
    let resp = c
        .get(url(&format!(
            "token={TOKEN}&status=fail&message=m%C3%A1y%20ph%C3%A1t%20t%E1%BA%AFt"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    let (obs, sample) = r.probe(r.app.state.heartbeats.clone()).await;
    assert_eq!(failing(&sample), ["push_status (fail) == ok"]);
    let last = obs.facts.heartbeat.and_then(|h| h.last).expect("push");
    assert_eq!(last.message.as_deref(), Some("máy phát tắt"));
    // A wrong or missing token is refused as for a POST, with a JSON error, and records nothing.
    let bad_status = format!("token={TOKEN}&status=maybe");
    for (q, status, code) in [
        ("token=wrong-token-xxxxxxxx", 403, "forbidden"),
        ("", 401, "unauthorized"),
        (bad_status.as_str(), 400, "invalid_status"),
    ] {
        let resp = c.get(url(q)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{q}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], code, "{q}: {err}");
    }
    let (last, pushes) = r
        .app
        .state
        .heartbeats
        .last("ht-thach-ha-generator")
        .expect("push");
    assert_eq!((last.message.as_deref(), pushes), (Some("máy phát tắt"), 1));
    r.app.shutdown().await;
}

#[tokio::test]
async fn pushes_need_the_right_token_and_target() {
    let r = start().await;
    let c = client();
    let push = |path: &str| c.post(format!("{}/api/v1/push/{path}", r.base));
    let code = |resp: reqwest::Response| resp.status().as_u16();
    assert_eq!(
        code(push("ht-thach-ha-generator").send().await.unwrap()),
        401
    );
    assert_eq!(
        code(
            push("ht-thach-ha-generator")
                .bearer_auth("wrong-token-xxxxxxxx")
                .send()
                .await
                .unwrap()
        ),
        403
    );
    assert_eq!(
        code(push("ht-portal").bearer_auth(TOKEN).send().await.unwrap()),
        404
    );
    assert_eq!(
        code(push("nope").bearer_auth(TOKEN).send().await.unwrap()),
        404
    );
    assert_eq!(
        code(
            push("ht-thach-ha-generator?status=maybe")
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        code(
            push("ht-thach-ha-generator")
                .bearer_auth(TOKEN)
                .body("{not json")
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert!(
        r.app
            .state
            .heartbeats
            .last("ht-thach-ha-generator")
            .is_none()
    );
    r.app.shutdown().await;
}

#[tokio::test]
async fn a_push_survives_a_restart() {
    let r = start().await;
    let resp = client()
        .post(format!(
            "{}/api/v1/push/ht-thach-ha-generator?status=fail&message=generator%20off",
            r.base
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let pushed = r
        .app
        .state
        .heartbeats
        .last("ht-thach-ha-generator")
        .unwrap()
        .0;
    // The push is queued for the store without waiting; a shutdown commits the queue.
    let Running {
        app, config, _dir, ..
    } = r;
    app.shutdown().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = App::start_with_listener(config, listener).await.unwrap();
    let (last, count) = app
        .state
        .heartbeats
        .last("ht-thach-ha-generator")
        .expect("the push was forgotten by the restart");
    assert_eq!(count, 1);
    assert_eq!(last.status, PushStatus::Fail);
    assert_eq!(last.message.as_deref(), Some("generator off"));
    assert_eq!(last.at.timestamp_millis(), pushed.at.timestamp_millis());
    assert!(app.state.heartbeats.last("ht-portal").is_none());
    app.shutdown().await;
}

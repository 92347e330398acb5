//! Alerting end to end over loopback: a collector plays the receiver (down, rate-limiting,
//! refusing, restarted around), the daemon is the real one, and every assertion is on what
//! arrived at the collector.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::collector::{Answer, Collector};
use common::*;
use sha2::{Digest, Sha256};

fn hex(d: [u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fast alerting settings plus one webhook receiver per (id, url, drill filter).
fn alerting(receivers: &[(&str, String, Option<bool>)]) -> String {
    let mut s = format!(
        "[alerting]\ngroup_wait = \"1s\"\ngroup_interval = \"2s\"\nrepeat_interval = \"1h\"\n\n\
         [[auth.tokens]]\nname = \"quan-tri\"\nrole = \"admin\"\nsha256 = \"{}\"\n\n",
        hex(Sha256::digest(b"admin-secret").into())
    );
    for (id, url, drill) in receivers {
        s.push_str(&format!(
            "[[receivers]]\nid = \"{id}\"\nkind = \"webhook\"\nurl = \"{url}\"\nhmac_secret = \"k3y\"\n\n[[routes]]\nreceiver = \"{id}\"\n"
        ));
        if let Some(d) = drill {
            s.push_str(&format!("drill = {d}\n"));
        }
        s.push('\n');
    }
    s
}

fn target(id: &str, addr: &str, operator: &str, commune: &str, extra: &str) -> String {
    format!(
        "[[targets]]\nid = \"{id}\"\nname = \"{operator} — {commune}\"\nkind = \"tcp\"\naddress = \"{addr}\"\n\
         interval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\
         operator = \"{operator}\"\nprovince = \"Hà Tĩnh\"\ncommune = \"{commune}\"\n{extra}\n"
    )
}

async fn accepted_where(
    c: &Collector,
    min: usize,
    what: &str,
    secs: u64,
) -> Vec<serde_json::Value> {
    wait_for(Duration::from_secs(secs), what, || async {
        let a = c.accepted();
        (a.len() >= min).then(|| a.iter().map(|r| r.json()).collect::<Vec<_>>())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_outage_loses_nothing_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    c.script([Answer::status(503), Answer::status(503)]);
    let dead = refused_addr().await.to_string();
    let toml = format!(
        "{}{}{}{}{}",
        alerting(&[("ops", c.url("/hook"), None)]),
        target("v1", &dead, "viettel", "Kỳ Anh", ""),
        target("v2", &dead, "viettel", "Cẩm Xuyên", ""),
        target("n1", &dead, "vnpt", "Kỳ Anh", ""),
        target("n2", &dead, "vnpt", "Thạch Hà", ""),
    );
    let app = start_app(dir.path(), &toml).await;
    let msgs = accepted_where(&c, 2, "two grouped messages after the outage", 40).await;
    // One message per operator, each naming both communes; the receiver saw retries first.
    let mut groups = BTreeSet::new();
    for m in &msgs {
        assert_eq!(m["status"], "firing");
        assert_eq!(m["drill"], false);
        assert_eq!(m["summary"]["firing"], 2, "{m}");
        assert_eq!(m["summary"]["communes"].as_array().unwrap().len(), 2);
        groups.insert(m["group"]["operator"].as_str().unwrap().to_string());
        assert!(
            m["title"]
                .as_str()
                .unwrap()
                .contains("2 xã/phường mất liên lạc tại Hà Tĩnh"),
            "{m}"
        );
    }
    assert_eq!(
        groups,
        ["viettel", "vnpt"].into_iter().map(String::from).collect()
    );
    assert!(c.received().len() >= 4, "the 503s were not retried");
    // Signed with HMAC-SHA256 over the exact body.
    let first = &c.accepted()[0];
    use hmac::Mac;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"k3y").unwrap();
    mac.update(&first.body);
    let sig = hex(mac.finalize().into_bytes().into());
    assert_eq!(
        first.header("x-commwatch-signature"),
        Some(format!("sha256={sig}").as_str())
    );
    assert_eq!(
        first.header("idempotency-key"),
        first.json()["idempotency_key"].as_str()
    );

    // Every queued message was delivered exactly once, in queue order.
    let addr = app.local_addr();
    let out = wait_for(
        Duration::from_secs(10),
        "every attempt recorded",
        || async {
            let out = get_json(addr, "/api/v1/alerts/outbox").await;
            let done = out["messages"]
                .as_array()?
                .iter()
                .all(|r| r["status"] == "delivered");
            done.then_some(out)
        },
    )
    .await;
    let rows = out["messages"].as_array().unwrap();
    let mut queued: Vec<&str> = rows
        .iter()
        .map(|r| r["idempotency_key"].as_str().unwrap())
        .collect();
    queued.reverse();
    let delivered: Vec<String> = c
        .accepted()
        .iter()
        .map(|r| r.json()["idempotency_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        queued,
        delivered.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let (_, metrics) = get_text(app.local_addr(), "/metrics").await;
    assert!(
        metrics.contains("commwatch_alert_deliveries_total{outcome=\"retry\",receiver=\"ops\"} 2"),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_a_refusal_becomes_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    c.script([
        Answer {
            status: 429,
            retry_after: Some("2".into()),
            body: "{}".into(),
        },
        Answer::status(200),
        Answer::status(400),
    ]);
    let dead = refused_addr().await.to_string();
    let toml = format!(
        "{}{}",
        alerting(&[("sms", c.url("/sms"), None)]),
        target("v1", &dead, "viettel", "Kỳ Anh", "")
    );
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    accepted_where(&c, 1, "delivery after 429", 30).await;
    let r = c.received();
    assert_eq!(r[0].status, 429);
    let gap = r[1].at - r[0].at;
    assert!(
        gap >= Duration::from_millis(1_900),
        "retried after {gap:?} despite Retry-After: 2"
    );

    // Next message: the target recovers; the receiver refuses it with 400 → dead letter.
    drop(tokio::net::TcpListener::bind(&dead).await);
    let listener = tokio::net::TcpListener::bind(&dead).await.unwrap();
    let dead_letter = wait_for(Duration::from_secs(20), "a dead letter", || async {
        let v = get_json(addr, "/api/v1/alerts/outbox?status=dead").await;
        v["messages"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(dead_letter["last_status"], 400);
    wait_for(Duration::from_secs(5), "the dead-letter gauge", || async {
        let (_, metrics) = get_text(addr, "/metrics").await;
        metrics
            .contains("commwatch_alert_dead_letters{receiver=\"sms\"} 1")
            .then_some(())
    })
    .await;
    // An officer fixes the receiver and queues it again.
    let id = dead_letter["id"].as_i64().unwrap();
    let resp = client()
        .post(format!("http://{addr}/api/v1/alerts/outbox/{id}/retry"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let msgs = accepted_where(&c, 2, "the requeued message", 20).await;
    assert_eq!(msgs[1]["status"], "resolved");
    assert_eq!(msgs[1]["idempotency_key"], dead_letter["idempotency_key"]);
    drop(listener);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    c.set_default(Answer::status(503));
    let dead = refused_addr().await.to_string();
    let toml = format!(
        "{}{}",
        alerting(&[("ops", c.url("/hook"), None)]),
        target("v1", &dead, "viettel", "Kỳ Anh", "")
    );
    let app = start_app(dir.path(), &toml).await;
    wait_for(Duration::from_secs(20), "a failed attempt", || async {
        (!c.received().is_empty()).then_some(())
    })
    .await;
    app.shutdown().await;
    // The receiver comes back while commwatch is stopped.
    c.set_default(Answer::status(200));
    let app = start_app(dir.path(), &toml).await;
    let msgs = accepted_where(&c, 1, "delivery after restart", 40).await;
    assert_eq!(msgs[0]["targets"][0]["id"], "v1");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let keys: BTreeSet<String> = c
        .accepted()
        .iter()
        .map(|r| r.json()["idempotency_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), c.accepted().len(), "duplicate deliveries");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_failures_make_a_handful_of_messages() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    let dead = refused_addr().await.to_string();
    let mut toml = alerting(&[("ops", c.url("/hook"), None)])
        .replace("group_wait = \"1s\"", "group_wait = \"4s\"");
    toml.push_str("[scheduler]\nmax_concurrency = 512\n\n");
    let operators = ["viettel", "vnpt", "mobifone", "fpt"];
    // Probed every second, 2 000 targets are 2 000 samples a second for the store. An embedded
    // SQLite file takes that in a debug build on a busy 2-core CI machine; PostgreSQL, one round
    // trip per statement on the writer's one connection, falls behind there (its queue grows
    // and the first message comes later and later), so on PostgreSQL the storm probes every
    // 2 s: the same 2 000 failures, half the write rate. The grouping under test is the same.
    let interval = if common::stores::test_store_is_postgres() {
        "interval = \"2s\""
    } else {
        "interval = \"1s\""
    };
    for i in 0..2_000 {
        let op = operators[i % 4];
        toml.push_str(
            &target(&format!("t{i}"), &dead, op, &format!("Xã {}", i / 4), "")
                .replace("interval = \"1s\"", interval),
        );
    }
    let app = start_app(dir.path(), &toml).await;
    let msgs = accepted_where(&c, 4, "one message per operator", 60).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let all: Vec<serde_json::Value> = c.accepted().iter().map(|r| r.json()).collect();
    assert!(all.len() <= 8, "{} messages for one storm", all.len());
    // The latest message of each group accounts for every failing target.
    let mut latest = std::collections::BTreeMap::new();
    for m in &all {
        latest.insert(
            m["group"]["operator"].as_str().unwrap().to_string(),
            m["summary"]["firing"].as_u64().unwrap(),
        );
    }
    assert_eq!(latest.len(), 4, "{msgs:?}");
    assert_eq!(latest.values().sum::<u64>(), 2_000);
    // A long list is cut, not dumped: "… và N mục khác".
    assert!(all[0]["text"].as_str().unwrap().contains("mục khác"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_are_marked_and_routed_apart() {
    let dir = tempfile::tempdir().unwrap();
    let live = Collector::start().await;
    let drill = Collector::start().await;
    let dead = refused_addr().await.to_string();
    let toml = format!(
        "{}{}{}",
        alerting(&[
            ("live", live.url("/"), Some(false)),
            ("drill", drill.url("/"), Some(true))
        ]),
        target("v1", &dead, "viettel", "Kỳ Anh", ""),
        target("n1", &dead, "vnpt", "Kỳ Anh", "")
    );
    let dir_path = dir.path().to_path_buf();
    let (storage, _db) = common::stores::storage_for_test(&dir_path);
    let text = format!("{storage}\n{toml}");
    let cfg = commwatch::config::Config::from_str_at(&dir_path.join("c.toml"), &text).unwrap();
    let app = commwatch::app::App::start_with_listener(
        cfg,
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let started = commwatch::drill::service::start(
        &app.state,
        commwatch::drill::NewDrill {
            name: "Diễn tập bão số 9".into(),
            scenario: String::new(),
            scope: commwatch::config::drills::Scope::parse(
                &[(
                    "operator".to_string(),
                    commwatch::config::drills::OneOrMany::One("viettel".into()),
                )]
                .into(),
            )
            .unwrap(),
            leaders: vec![],
            interval: Duration::from_secs(1),
            duration: Duration::from_secs(3_600),
            baseline: Duration::from_secs(3_600),
            planned_start: None,
            schedule_key: None,
        },
        "test",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let d = accepted_where(&drill, 1, "drill message", 20).await;
    assert_eq!(d[0]["drill"], true);
    assert_eq!(d[0]["drill_id"], started.id.to_string());
    assert!(
        d[0]["title"].as_str().unwrap().starts_with("[DIỄN TẬP] "),
        "{}",
        d[0]["title"]
    );
    assert!(d[0]["text"].as_str().unwrap().contains("Diễn tập bão số 9"));
    assert_eq!(d[0]["group"]["operator"], "viettel");
    let l = accepted_where(&live, 1, "live message", 20).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for m in live.accepted() {
        let m = m.json();
        assert_eq!(m["drill"], false);
        assert_eq!(
            m["group"]["operator"], "vnpt",
            "drill traffic reached the live receiver: {m}"
        );
    }
    for m in drill.accepted() {
        assert_eq!(m.json()["group"]["operator"], "viettel");
    }
    assert!(!l[0]["title"].as_str().unwrap().contains("DIỄN TẬP"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_children_are_named_by_their_parent_only() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    let dead = refused_addr().await.to_string();
    let mut toml = alerting(&[("ops", c.url("/"), None)]);
    toml.push_str(&target("ht-power-zone-3", &dead, "evn", "Kỳ Anh", ""));
    for i in 0..3 {
        toml.push_str(
            &target(
                &format!("bts-{i}"),
                &dead,
                "viettel",
                &format!("Kỳ {i}"),
                "depends_on = [\"ht-power-zone-3\"]\nfailure_threshold = 3",
            )
            .replace("failure_threshold = 1\n", ""),
        );
    }
    let app = start_app(dir.path(), &toml).await;
    let msgs = accepted_where(&c, 1, "the parent's alert", 20).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let st = states(app.local_addr()).await;
    for i in 0..3 {
        assert_eq!(st[&format!("bts-{i}")]["state"], "unreachable");
    }
    for m in c.accepted() {
        let m = m.json();
        for t in m["targets"].as_array().unwrap() {
            assert_eq!(t["id"], "ht-power-zone-3", "a child paged on its own: {m}");
        }
    }
    let last = c.accepted().last().unwrap().json();
    let explains = last["targets"][0]["explains"].as_array().unwrap();
    assert_eq!(explains.len(), 3, "{last}");
    assert!(last["text"].as_str().unwrap().contains("kéo theo 3"));
    let _ = msgs;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parents_alert_is_updated_with_the_children_it_took_down() {
    // Issue 21: children turn UNREACHABLE only after their own failure threshold, after the
    // parent's message went out; the parent's alert must still say what it took down.
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    let dead = refused_addr().await.to_string();
    let mut toml = alerting(&[("ops", c.url("/"), None)]);
    toml.push_str(&target("ht-power-zone-3", &dead, "evn", "Kỳ Anh", ""));
    for (i, (op, commune)) in [
        ("viettel", "Kỳ Anh"),
        ("viettel", "Kỳ Lạc"),
        ("vnpt", "Kỳ Anh"),
        ("vnpt", "Kỳ Sơn"),
    ]
    .into_iter()
    .enumerate()
    {
        toml.push_str(
            &target(
                &format!("bts-{i}"),
                &dead,
                op,
                commune,
                "depends_on = [\"ht-power-zone-3\"]\nfailure_threshold = 4",
            )
            .replace("failure_threshold = 1\n", ""),
        );
    }
    let app = start_app(dir.path(), &toml).await;
    let named = wait_for(
        Duration::from_secs(30),
        "the parent's alert naming the four children",
        || async {
            c.accepted().iter().map(|r| r.json()).find(|m| {
                m["targets"][0]["explains"]
                    .as_array()
                    .is_some_and(|e| e.len() == 4)
            })
        },
    )
    .await;
    let text = named["text"].as_str().unwrap();
    assert!(
        text.contains("kéo theo 4 mục tiêu ở 3 xã/phường (Viettel 2, VNPT/VinaPhone 2)"),
        "{text}"
    );
    assert!(
        named["title"]
            .as_str()
            .unwrap()
            .contains("kéo theo 4 mục tiêu ở 3 xã/phường"),
        "{named}"
    );
    let ids: BTreeSet<&str> = named["targets"][0]["explained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["bts-0", "bts-1", "bts-2", "bts-3"]));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = c.accepted();
    for m in &all {
        let m = m.json();
        assert_eq!(
            m["group"]["operator"], "evn",
            "a child paged on its own: {m}"
        );
        for t in m["targets"].as_array().unwrap() {
            assert_eq!(t["id"], "ht-power-zone-3", "a child paged on its own: {m}");
        }
    }
    // Messages about the cause only: the first one and the updates naming the children (they
    // cross their thresholds within about a second, so usually one update), never one message
    // per child on top.
    assert!(all.len() <= 5, "{} messages", all.len());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_and_maintenance_mute_notifications_not_recording() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    let dead = refused_addr().await.to_string();
    // A window that began an hour ago (local time) and lasts three.
    let start = (chrono::Utc::now() - chrono::Duration::hours(1))
        .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let toml = format!(
        "{}[[maintenance]]\nname = \"Bảo trì FPT\"\nmatch = {{ operator = \"fpt\" }}\nstart = \"{start}\"\nduration = \"3h\"\n\n{}{}{}",
        alerting(&[("ops", c.url("/"), None)]),
        target("f1", &dead, "fpt", "Kỳ Anh", ""),
        target("m1", &dead, "mobifone", "Kỳ Anh", "interval = \"2s\"")
            .replace("interval = \"1s\"\n", ""),
        target("v1", &dead, "viettel", "Kỳ Anh", "interval = \"2s\"")
            .replace("interval = \"1s\"\n", ""),
    );
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    // Silence MobiFone before its first result is judged (it probes every 2 s).
    let r = client()
        .post(format!("http://{addr}/api/v1/silences"))
        .bearer_auth("admin-secret")
        .json(&serde_json::json!({
            "matchers": { "operator": "mobifone" },
            "duration": "1h",
            "reason": "Sửa cáp quang Kỳ Anh"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let bad = client()
        .post(format!("http://{addr}/api/v1/silences"))
        .bearer_auth("admin-secret")
        .json(&serde_json::json!({ "matchers": { "colour": "red" }, "duration": "1h", "reason": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let msgs = accepted_where(&c, 1, "the viettel alert", 20).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    for m in c.accepted() {
        assert_eq!(
            m.json()["group"]["operator"],
            "viettel",
            "muted target notified"
        );
    }
    let st = states(addr).await;
    assert_eq!(st["f1"]["state"], "maintenance");
    assert_eq!(
        st["m1"]["state"], "down",
        "silences mute notifications, not states"
    );
    // Recording goes on for both.
    let store = app.state.store.clone();
    store.flush().await.unwrap();
    assert!(store.sample_count("f1").await.unwrap() >= 2);
    assert!(store.sample_count("m1").await.unwrap() >= 1);
    let list = get_json(addr, "/api/v1/silences").await;
    assert_eq!(list["silences"][0]["author"], "quan-tri");
    let _ = msgs;
    drop(store);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_outages_stop_reminding_and_say_who_took_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    let dead = refused_addr().await.to_string();
    let officer = hex(Sha256::digest(b"officer-secret").into());
    let mut toml = alerting(&[("ops", c.url("/"), None)])
        .replace("repeat_interval = \"1h\"", "repeat_interval = \"3s\"");
    toml.push_str(&format!(
        "[[auth.tokens]]\nname = \"truc-ban-1\"\nrole = \"officer\"\nsha256 = \"{officer}\"\n\n"
    ));
    toml.push_str(&target("v1", &dead, "viettel", "Kỳ Anh", ""));
    toml.push_str(&target("n1", &dead, "vnpt", "Kỳ Anh", ""));
    // A second Viettel site, healthy until after the acknowledgement.
    let (site, status) = switch_server(200).await;
    toml.push_str(&format!(
        "[[targets]]\nid = \"v2\"\nname = \"Viettel — Thạch Hà\"\nkind = \"http\"\nurl = \"http://{site}/\"\n\
         interval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\
         operator = \"viettel\"\nprovince = \"Hà Tĩnh\"\ncommune = \"Thạch Hà\"\n\n"
    ));
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    accepted_where(&c, 2, "first messages", 20).await;
    // Take the Viettel outage.
    let inc = wait_for(Duration::from_secs(10), "viettel incident", || async {
        let v = get_json(addr, "/api/v1/incidents?status=open&target=v1").await;
        v["incidents"][0]["id"].as_i64()
    })
    .await;
    let r = client()
        .post(format!("http://{addr}/api/v1/incidents/{inc}/ack"))
        .bearer_auth("officer-secret")
        .json(&serde_json::json!({ "comment": "Đã điều xe máy phát" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    let after_ack = c.accepted().len();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let later: Vec<serde_json::Value> =
        c.accepted()[after_ack..].iter().map(|r| r.json()).collect();
    // VNPT, not acknowledged, keeps reminding; Viettel, acknowledged, does not.
    assert!(
        later
            .iter()
            .any(|m| m["group"]["operator"] == "vnpt" && m["kind"] == "repeat"),
        "{later:?}"
    );
    assert!(
        !later.iter().any(|m| m["group"]["operator"] == "viettel"),
        "acknowledged outage reminded: {later:?}"
    );
    // When the Viettel group speaks again (another site fails), the message says who took v1.
    status.store(503, std::sync::atomic::Ordering::Relaxed);
    let update = wait_for(Duration::from_secs(20), "viettel update", || async {
        c.accepted()
            .iter()
            .map(|r| r.json())
            .find(|m| m["group"]["operator"] == "viettel" && m["summary"]["firing"] == 2)
    })
    .await;
    let v1 = update["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "v1")
        .unwrap()
        .clone();
    assert_eq!(v1["acknowledged_by"], "truc-ban-1", "{update}");
    assert!(
        update["text"]
            .as_str()
            .unwrap()
            .contains("đã tiếp nhận: truc-ban-1")
    );
    app.shutdown().await;
}

/// A site that fails, recovers and fails again pages twice: the second outage is a new message
/// with a key of its own, never taken by the outbox for the first outage's, already delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_that_fails_again_after_recovering_alerts_again() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start().await;
    let (site, status) = switch_server(503).await;
    let mut toml = alerting(&[("ops", c.url("/"), None)]);
    toml.push_str(&format!(
        "[[targets]]\nid = \"v1\"\nname = \"Viettel — Kỳ Anh\"\nkind = \"http\"\nurl = \"http://{site}/\"\n\
         interval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\
         operator = \"viettel\"\nprovince = \"Hà Tĩnh\"\ncommune = \"Kỳ Anh\"\n\n"
    ));
    let app = start_app(dir.path(), &toml).await;
    let statuses = || {
        c.accepted()
            .iter()
            .map(|r| r.json()["status"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    wait_for(
        Duration::from_secs(20),
        "the first outage's message",
        || async { (statuses() == ["firing"]).then_some(()) },
    )
    .await;
    status.store(200, Ordering::Relaxed);
    wait_for(
        Duration::from_secs(20),
        "the recovery's message",
        || async { (statuses() == ["firing", "resolved"]).then_some(()) },
    )
    .await;
    status.store(503, Ordering::Relaxed);
    wait_for(
        Duration::from_secs(20),
        "the second outage's message",
        || async { (statuses() == ["firing", "resolved", "firing"]).then_some(()) },
    )
    .await;
    let keys: BTreeSet<String> = c
        .accepted()
        .iter()
        .map(|r| r.json()["idempotency_key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    app.shutdown().await;
}

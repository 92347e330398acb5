//! Every receiver's payload for the same notifications, compared with golden files under
//! tests/fixtures/alerting/. After an intended change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test alerting_golden` and review the diff.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use commwatch::alerting::model::{AlertTarget, DrillRef, Explained, Kind, Notification, Status};
use commwatch::alerting::provider;
use commwatch::config::alerting::{Language, Receiver, ReceiverKind};
use commwatch::state::State;

fn t(h: u32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 7, h, m, 0).single().unwrap()
}

fn target(
    id: &str,
    name: &str,
    op: &str,
    commune: &str,
    state: State,
    status: Status,
) -> AlertTarget {
    let mut labels = BTreeMap::new();
    labels.insert("operator".into(), op.into());
    labels.insert("province".into(), "Hà Tĩnh".into());
    labels.insert("commune".into(), commune.into());
    labels.insert("service".into(), "mobile".into());
    labels.insert("severity".into(), "critical".into());
    AlertTarget {
        id: id.into(),
        name: name.into(),
        labels,
        state,
        status,
        cause: (status == Status::Firing).then(|| "connect: connection refused".into()),
        started_at: t(6, 5),
        ended_at: (status == Status::Resolved).then(|| t(7, 40)),
        explains: Vec::new(),
        explained: Vec::new(),
        flapping: None,
        acknowledged_by: None,
    }
}

fn storm(language: Language, drill: bool) -> Notification {
    let mut a = target(
        "ht-ky-anh-viettel",
        "Viettel — Kỳ Anh",
        "viettel",
        "Kỳ Anh",
        State::Down,
        Status::Firing,
    );
    // What it took down: counted per commune and operator in the message.
    a.explained = vec![
        Explained {
            id: "ht-ky-anh-bts-2".into(),
            name: "Trạm BTS Kỳ Anh 2 <dự phòng>".into(),
            labels: target(
                "",
                "",
                "viettel",
                "Kỳ Anh",
                State::Unreachable,
                Status::Firing,
            )
            .labels,
        },
        Explained {
            id: "ht-ky-lac-vnpt".into(),
            name: "VNPT — Kỳ Lạc".into(),
            labels: target("", "", "vnpt", "Kỳ Lạc", State::Unreachable, Status::Firing).labels,
        },
    ];
    a.explains = a.explained.iter().map(|e| e.name.clone()).collect();
    a.acknowledged_by = Some("truc-ban-1".into());
    let b = target(
        "ht-cam-xuyen-viettel",
        "Viettel — Cẩm Xuyên & \"Thiên Cầm\"",
        "viettel",
        "Cẩm Xuyên",
        State::Degraded,
        Status::Firing,
    );
    let c = target(
        "ht-thach-ha-viettel",
        "Viettel — Thạch Hà",
        "viettel",
        "Thạch Hà",
        State::Up,
        Status::Resolved,
    );
    let mut group = BTreeMap::new();
    group.insert("operator".into(), "viettel".into());
    group.insert("province".into(), "Hà Tĩnh".into());
    Notification {
        id: "cw-00000000000000aa".into(),
        idempotency_key: "cw-00000000000000aa-3".into(),
        receiver: "r".into(),
        status: Status::Firing,
        kind: Kind::Update,
        drill: drill.then(|| DrillRef {
            id: "dt-2026-09".into(),
            name: "Diễn tập ứng phó bão Yagi".into(),
        }),
        group,
        targets: vec![a, b, c],
        created_at: t(7, 45),
        language,
        external_url: Some("https://status.example.invalid".into()),
        monitor_isolated: None,
        max_listed: 20,
    }
}

fn receivers() -> Vec<Receiver> {
    let url = |s: &str| url::Url::parse(s).unwrap();
    let mk = |id: &str, kind| Receiver {
        id: id.into(),
        kind,
        language: None,
        timeout: Duration::from_secs(10),
        max_per_minute: None,
    };
    vec![
        mk(
            "webhook",
            ReceiverKind::Webhook {
                url: url("https://hooks.example.invalid/commwatch"),
                headers: [("X-Province".to_string(), "ha-tinh".to_string())].into(),
                hmac_secret: Some("golden-secret".into()),
                body: None,
            },
        ),
        mk(
            "slack",
            ReceiverKind::Slack {
                url: url("https://chat.example.invalid/hooks/abc"),
            },
        ),
        mk(
            "telegram",
            ReceiverKind::Telegram {
                api_url: url("https://api.telegram.org"),
                bot_token: "123:ABC".into(),
                chat_id: "-100200300".into(),
            },
        ),
        mk(
            "zalo",
            ReceiverKind::Zalo {
                api_url: url("https://openapi.zalo.me"),
                access_token: "zalo-token".into(),
                recipient: "5555".into(),
            },
        ),
        mk(
            "alertmanager",
            ReceiverKind::Alertmanager {
                url: url("http://127.0.0.1:9093"),
                resend_interval: Duration::from_secs(60),
            },
        ),
    ]
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/alerting")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing; run with UPDATE_GOLDEN=1 once and review it",
            path.display()
        )
    });
    assert_eq!(expected, actual, "{name} differs from its golden file");
}

#[test]
fn every_receiver_matches_its_golden_payload() {
    for (suffix, lang, drill) in [
        ("vi", Language::Vi, false),
        ("en", Language::En, false),
        ("drill", Language::Vi, true),
    ] {
        let n = storm(lang, drill);
        for r in receivers() {
            let req = provider::build(&r, &n).unwrap();
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            let doc = serde_json::json!({
                "url": req.url.as_str(),
                "headers": req.headers,
                "body": body,
            });
            let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
            golden(&format!("{}-{suffix}.json", r.id), &text);
        }
    }
}

#[test]
fn hostile_text_is_escaped_for_markup_receivers() {
    let n = storm(Language::Vi, false);
    for r in receivers() {
        let req = provider::build(&r, &n).unwrap();
        let body = String::from_utf8(req.body).unwrap();
        if matches!(
            r.kind,
            ReceiverKind::Telegram { .. } | ReceiverKind::Slack { .. }
        ) {
            assert!(!body.contains("<dự phòng>"), "{}: unescaped markup", r.id);
            assert!(body.contains("&lt;dự phòng&gt;"), "{}", r.id);
        }
    }
}

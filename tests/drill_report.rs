//! The drill report computed from a store filled directly with known samples, incidents,
//! outbox messages, acknowledgements and notes: every number is checked against the truth
//! written here by hand.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/report_check.rs"]
mod report_check;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use commwatch::alerting::model::{AlertTarget, DrillRef, Explained, Kind, Notification, Status};
use commwatch::alerting::outbox::{self, Attempt, GroupingCommit, NewMessage};
use commwatch::config::Config;
use commwatch::config::drills::{OneOrMany, Scope};
use commwatch::drill::report::{Report, TimelineKind, report};
use commwatch::drill::{NewDrill, NewNote, db};
use commwatch::state::{IncidentChange, State, TargetState};
use commwatch::store::{IncidentWrite, Retention, SampleRow, Store};

/// The drill starts at 2026-11-20 14:00 local (07:00 UTC); `t(s)` is `s` seconds after.
fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 7, 0, 0)
        .single()
        .unwrap()
        + chrono::Duration::seconds(s)
}
const M: i64 = 60;

fn config() -> Config {
    let target = |id: &str, op: &str, svc: &str, commune: &str| {
        format!(
            "[[targets]]\nid = \"{id}\"\nname = \"{id} name\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n\
             operator = \"{op}\"\nservice = \"{svc}\"\nprovince = \"Hà Tĩnh\"\ncommune = \"{commune}\"\n\n"
        )
    };
    let text = [
        "[defaults]\ninterval = \"60s\"\ntimeout = \"5s\"\n\n".to_string(),
        target("a1", "viettel", "mobile", "Kỳ Anh"),
        target("a2", "viettel", "mobile", "Cẩm Xuyên"),
        target("b1", "vnpt", "mobile", "Kỳ Anh"),
        target("p1", "vnpost", "postal", "Thành Sen"),
        target("c1", "fpt", "fixed", "Kỳ Anh"),
    ]
    .concat();
    Config::from_str_at(Path::new("/etc/commwatch/commwatch.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Incidents as (target, start, detected, end, first state, worst state, explained by).
type Truth = (
    &'static str,
    i64,
    i64,
    Option<i64>,
    State,
    State,
    Option<&'static str>,
);
const INCIDENTS: [Truth; 6] = [
    // Baseline: a1 down for 10 minutes an hour before.
    (
        "a1",
        -40 * M,
        -40 * M + 30,
        Some(-30 * M),
        State::Down,
        State::Down,
        None,
    ),
    // p1 went down before the drill and came back 5 minutes into it.
    (
        "p1",
        -5 * M,
        -5 * M + 20,
        Some(5 * M),
        State::Down,
        State::Down,
        None,
    ),
    // The injected fibre cut: a1 down, a2 behind it unreachable.
    (
        "a1",
        10 * M,
        10 * M + 30,
        Some(25 * M),
        State::Down,
        State::Down,
        None,
    ),
    (
        "a2",
        10 * M + 10,
        10 * M + 40,
        Some(24 * M),
        State::Unreachable,
        State::Unreachable,
        Some("a1"),
    ),
    // b1 degraded only, then down until the end (still open when the drill stops).
    (
        "b1",
        30 * M,
        30 * M + 30,
        Some(40 * M),
        State::Degraded,
        State::Degraded,
        None,
    ),
    (
        "b1",
        50 * M,
        50 * M + 30,
        None,
        State::Down,
        State::Down,
        None,
    ),
];

fn failing(target: &str, at: i64) -> bool {
    INCIDENTS
        .iter()
        .any(|(t, s, _, e, ..)| *t == target && *s <= at && e.is_none_or(|e| at < e))
}

async fn sample(store: &Store, target: &str, at: i64, drill: Option<i64>) {
    let ok = !failing(target, at);
    store
        .record(
            Arc::from(target),
            SampleRow {
                at: t(at),
                ok,
                degraded: false,
                latency: Duration::from_millis(20),
                error: None,
                detail: None,
                loss: None,
                drill,
            },
            TargetState::new(t(at)),
        )
        .await
        .unwrap();
}

async fn incident(store: &Store, target: &str, change: IncidentChange, drill: Option<i64>) {
    store
        .record_incident(
            Arc::from(target),
            IncidentWrite {
                change,
                cause_error: None,
                cause_detail: Some("status (503) == 200".into()),
                drill,
            },
        )
        .await
        .unwrap();
}

fn alert_target(
    id: &str,
    status: Status,
    started: i64,
    ended: Option<i64>,
    explains: &[&str],
) -> AlertTarget {
    AlertTarget {
        id: id.into(),
        name: format!("{id} name"),
        labels: BTreeMap::new(),
        state: if status == Status::Firing {
            State::Down
        } else {
            State::Up
        },
        status,
        cause: None,
        started_at: t(started),
        ended_at: ended.map(t),
        // As grouping writes them: names in `explains`, ids and labels in `explained`.
        explains: explains.iter().map(|s| format!("{s} name")).collect(),
        explained: explains
            .iter()
            .map(|s| Explained {
                id: s.to_string(),
                name: format!("{s} name"),
                labels: BTreeMap::new(),
            })
            .collect(),
        flapping: None,
        acknowledged_by: None,
    }
}

fn message(receiver: &str, key: &str, created: i64, targets: Vec<AlertTarget>) -> NewMessage {
    let n = Notification {
        id: "cw-1".into(),
        idempotency_key: key.into(),
        receiver: receiver.into(),
        status: if targets.iter().any(|a| a.status == Status::Firing) {
            Status::Firing
        } else {
            Status::Resolved
        },
        kind: Kind::New,
        drill: Some(DrillRef {
            id: "1".into(),
            name: "Bão số 3".into(),
        }),
        group: BTreeMap::from([("operator".to_string(), "viettel".to_string())]),
        targets,
        created_at: t(created),
        language: Default::default(),
        external_url: None,
        monitor_isolated: None,
        max_listed: 10,
    };
    NewMessage {
        receiver: receiver.into(),
        group_key: "1|operator=viettel".into(),
        idempotency_key: key.into(),
        notification: serde_json::to_string(&n).unwrap(),
        drill_id: Some("1".into()),
        created_at: t(created),
    }
}

/// Fills the store with the drill and everything around it; returns the drill id.
async fn fill(store: &Store, cfg: &Config) -> i64 {
    let scope = Scope::parse(&BTreeMap::from([(
        "operator".to_string(),
        OneOrMany::Many(vec!["viettel".into(), "vnpt".into(), "vnpost".into()]),
    )]))
    .unwrap();
    let in_scope: Vec<String> = cfg
        .targets
        .iter()
        .filter(|x| scope.matches(x))
        .map(|x| x.id.clone())
        .collect();
    assert_eq!(in_scope, ["a1", "a2", "b1", "p1"]);
    let new = NewDrill {
        name: "Bão số 3".into(),
        scenario: "Cắt cáp quang tại Kỳ Anh".into(),
        scope,
        leaders: vec!["Nguyễn Văn A".into()],
        interval: Duration::from_secs(10),
        duration: Duration::from_secs(2 * 3600),
        baseline: Duration::from_secs(3600),
        planned_start: None,
        schedule_key: None,
    };
    let id = store
        .write(move |tx| db::insert(tx, &new, "quan-tri", t(0), &in_scope))
        .await
        .unwrap();
    assert_eq!(id, 1);

    // Samples: every minute over the baseline hour (c1 too), every 10 s during the drill.
    for target in ["a1", "a2", "b1", "p1", "c1"] {
        for m in -60..0 {
            sample(store, target, m * M, None).await;
        }
        if target != "c1" {
            for s in 0..360 {
                sample(store, target, s * 10, Some(id)).await;
            }
        }
    }
    // c1 is out of scope: its outage must not show.
    incident(
        store,
        "c1",
        opened(15 * M, 15 * M + 10, State::Down, None),
        None,
    )
    .await;
    for (target, start, detected, end, first, worst, explained) in INCIDENTS {
        let drill = (start >= 0).then_some(id);
        incident(
            store,
            target,
            opened(start, detected, first, explained),
            drill,
        )
        .await;
        if worst != first {
            incident(
                store,
                target,
                IncidentChange::Updated {
                    worst,
                    explained_by: None,
                },
                drill,
            )
            .await;
        }
        if target == "a1" && start == 10 * M {
            // The officer takes it while it is open.
            store.flush().await.unwrap();
            let inc = incident_id(store, "a1", start).await;
            store
                .ack_incident(inc, "truc-ban-1".into(), "Đã báo Viettel".into(), t(12 * M))
                .await
                .unwrap();
        }
        if let Some(end) = end {
            incident(
                store,
                target,
                IncidentChange::Closed { ended_at: t(end) },
                drill,
            )
            .await;
        }
    }

    // Alerts: the ops webhook got the a1 alert (naming a2 behind it) and its resolution; the
    // chat receiver's copy is still being retried.
    let commit = GroupingCommit {
        messages: vec![
            message(
                "ops",
                "k1",
                11 * M,
                vec![alert_target("a1", Status::Firing, 10 * M, None, &["a2"])],
            ),
            message(
                "chat",
                "k2",
                11 * M,
                vec![alert_target("a1", Status::Firing, 10 * M, None, &["a2"])],
            ),
            message(
                "ops",
                "k3",
                25 * M + 20,
                vec![alert_target(
                    "a1",
                    Status::Resolved,
                    10 * M,
                    Some(25 * M),
                    &[],
                )],
            ),
            // Live traffic about another target entirely.
            message(
                "ops",
                "k4",
                15 * M + 30,
                vec![alert_target("c1", Status::Firing, 15 * M, None, &[])],
            ),
        ],
        ..Default::default()
    };
    store
        .write(move |tx| outbox::commit_grouping(tx, &commit))
        .await
        .unwrap();
    let ids: Vec<(i64, String)> = store
        .query(|c| {
            c.query(
                "SELECT id, idempotency_key FROM outbox ORDER BY id",
                commwatch::args![],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
        })
        .await
        .unwrap();
    for (oid, key) in ids {
        let attempt = match key.as_str() {
            "k1" => Attempt::Delivered {
                status: 200,
                at: t(11 * M + 5),
            },
            "k2" => Attempt::Retry {
                status: Some(503),
                error: "503".into(),
                next: t(70 * M),
            },
            "k3" => Attempt::Delivered {
                status: 200,
                at: t(25 * M + 30),
            },
            _ => Attempt::Delivered {
                status: 200,
                at: t(15 * M + 31),
            },
        };
        store
            .write(move |tx| outbox::record_attempt(tx, oid, &attempt))
            .await
            .unwrap();
    }

    // Notes: the cut was announced (a1 expected down until 25 min); p1 was expected to fail
    // later but never did.
    let note = |at: i64, text: &str, expected: &[&str], until: Option<i64>| NewNote {
        at: t(at),
        author: "chi-huy".into(),
        text: text.into(),
        expected_targets: expected.iter().map(|s| s.to_string()).collect(),
        expected_until: until.map(t),
    };
    for n in [
        note(
            9 * M + 50,
            "14:10 cắt cáp quang Kỳ Anh",
            &["a1"],
            Some(25 * M),
        ),
        note(45 * M, "Tắt nguồn bưu cục Thành Sen", &["p1"], None),
        note(55 * M, "Kết thúc giai đoạn 2", &[], None),
    ] {
        store
            .write(move |tx| db::insert_note(tx, id, &n, t(56 * M)))
            .await
            .unwrap();
    }
    store
        .write(move |tx| db::end(tx, id, t(60 * M), "stopped", Some("quan-tri")))
        .await
        .unwrap();
    store.flush().await.unwrap();
    id
}

fn opened(start: i64, detected: i64, state: State, explained: Option<&str>) -> IncidentChange {
    IncidentChange::Opened {
        started_at: t(start),
        detected_at: t(detected),
        state,
        explained_by: explained.map(str::to_string),
    }
}

async fn incident_id(store: &Store, target: &'static str, start: i64) -> i64 {
    let at = t(start).timestamp_millis();
    store
        .query(move |c| {
            c.query_one(
                "SELECT i.id FROM incidents i JOIN targets t ON t.id = i.target_id
                 WHERE t.key = ?1 AND i.started_at_ms = ?2",
                commwatch::args![target, at],
            )?
            .get(0)
        })
        .await
        .unwrap()
}

/// The report of a store filled by `fill`, on the engine `COMMWATCH_TEST_STORE` names (the
/// backing is returned so the record outlives the report).
async fn build() -> (Report, common::stores::Backing) {
    let backing = common::stores::Backing::for_test("drill_report");
    let (store, writer) = backing.open(Retention::default());
    let cfg = config();
    let id = fill(&store, &cfg).await;
    let targets = cfg.targets.clone();
    let r = store
        .query(move |c| report(c, id, t(3 * 3600), &targets))
        .await
        .unwrap()
        .expect("the drill exists");
    let missing = store
        .query(move |c| report(c, 99, t(0), &[]))
        .await
        .unwrap();
    assert!(missing.is_none());
    drop(store);
    writer.join().await;
    (r, backing)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_numbers_match_the_known_truth() {
    let (r, _dir) = build().await;
    assert!(!r.running);
    assert_eq!(r.window.seconds, 3600.0);
    assert_eq!(r.baseline_window.seconds, 3600.0);
    let target = |id: &str| r.targets.iter().find(|x| x.id == id).unwrap();

    // Downtime: first failed probe to first good probe, clipped to the window.
    let a1 = target("a1");
    assert_eq!(a1.drill.downtime_seconds, 900.0);
    assert_eq!(a1.drill.outages, 1);
    assert!(close(a1.drill.availability.unwrap(), 0.75));
    assert_eq!(a1.name, "a1 name");
    assert_eq!(a1.operator, "viettel");
    assert_eq!(a1.interval_seconds, 10.0);
    assert_eq!(a1.drill.samples, 360);
    assert_eq!(a1.drill.samples_ok, 270);
    // Baseline: 10 minutes down in the hour before.
    assert_eq!(a1.baseline.window_seconds, 3600.0);
    assert_eq!(a1.baseline.downtime_seconds, 600.0);
    assert!(close(a1.baseline.availability.unwrap(), 5.0 / 6.0));
    assert_eq!(a1.baseline.samples, 60);

    let a2 = target("a2");
    assert_eq!(
        a2.drill.downtime_seconds, 830.0,
        "unreachable counts as down"
    );
    let b1 = target("b1");
    assert_eq!(
        b1.drill.downtime_seconds, 600.0,
        "open outage runs to the end"
    );
    assert_eq!(b1.drill.outages, 1);
    assert_eq!(b1.drill.degraded_seconds, 600.0);
    assert_eq!(b1.drill.degradations, 1);
    assert_eq!(b1.baseline.availability, Some(1.0));
    let p1 = target("p1");
    assert_eq!(
        p1.drill.downtime_seconds, 300.0,
        "clipped at the drill's start"
    );
    assert_eq!(
        p1.baseline.downtime_seconds, 300.0,
        "clipped at the drill's start"
    );
    assert!(r.targets.iter().all(|x| x.id != "c1"), "c1 is out of scope");
    // Worst target first.
    assert_eq!(r.targets[0].id, "a1");

    // Groups and summary.
    let op = |k: &str| r.by_operator.iter().find(|g| g.key == k).unwrap();
    assert!(close(
        op("viettel").drill.availability.unwrap(),
        1.0 - 1730.0 / 7200.0
    ));
    assert_eq!(op("viettel").targets, 2);
    assert!(close(
        op("viettel").baseline.availability.unwrap(),
        1.0 - 600.0 / 7200.0
    ));
    assert!(close(
        op("viettel").change.unwrap(),
        (600.0 - 1730.0) / 7200.0
    ));
    assert_eq!(r.by_operator[0].key, "viettel", "worst first");
    let svc = |k: &str| r.by_service.iter().find(|g| g.key == k).unwrap();
    assert!(close(
        svc("mobile").drill.availability.unwrap(),
        1.0 - 2330.0 / 10800.0
    ));
    let ky_anh = r.by_commune.iter().find(|g| g.key == "Kỳ Anh").unwrap();
    assert_eq!(ky_anh.province.as_deref(), Some("Hà Tĩnh"));
    assert_eq!(ky_anh.targets, 2);
    assert!(close(
        ky_anh.drill.availability.unwrap(),
        1.0 - 1500.0 / 7200.0
    ));
    let s = &r.summary;
    assert_eq!(s.targets, 4);
    assert_eq!(s.targets_with_data, 4);
    assert_eq!(s.targets_with_outages, 4);
    assert_eq!(s.duration_seconds, 3600.0);
    assert!(close(s.drill.availability.unwrap(), 1.0 - 2630.0 / 14400.0));
    assert_eq!(s.drill.outages, 4);
    assert_eq!(s.worst_operator.as_ref().unwrap().key, "viettel");
    assert_eq!(s.worst_commune.as_ref().unwrap().key, "Cẩm Xuyên");
    assert_eq!(s.expected_faults, 2);
    assert_eq!(s.expected_detected, 1);

    // Outages: four in the window plus b1's degradation; c1 and the baseline one are not.
    let ids: Vec<(&str, i64)> = r
        .outages
        .iter()
        .map(|o| (o.target.as_str(), (o.started_at - t(0)).num_seconds()))
        .collect();
    assert_eq!(
        ids,
        [
            ("p1", -5 * M),
            ("a1", 10 * M),
            ("a2", 10 * M + 10),
            ("b1", 30 * M),
            ("b1", 50 * M)
        ]
    );
    let a1o = &r.outages[1];
    assert_eq!(a1o.detection_seconds, 30.0);
    assert_eq!(a1o.restoration_seconds, Some(900.0));
    assert!(a1o.drill_tagged && a1o.counts_as_downtime);
    assert_eq!(a1o.acknowledged_by.as_deref(), Some("truc-ban-1"));
    assert_eq!(a1o.ack_seconds, Some(12.0 * 60.0 - 630.0));
    assert_eq!(a1o.cause.as_deref(), Some("status (503) == 200"));
    assert_eq!(a1o.deliveries.len(), 2);
    let ops = a1o.deliveries.iter().find(|d| d.receiver == "ops").unwrap();
    assert_eq!(ops.status, "delivered");
    assert_eq!(ops.since_start_seconds, Some(65.0));
    assert_eq!(ops.since_detection_seconds, Some(35.0));
    assert_eq!(ops.resolved_delivered_at, Some(t(25 * M + 30)));
    assert_eq!(ops.via, None);
    let chat = a1o
        .deliveries
        .iter()
        .find(|d| d.receiver == "chat")
        .unwrap();
    assert_eq!(
        (chat.status.as_str(), chat.delivered_at, chat.attempts),
        ("pending", None, 1)
    );
    // a2 was named in its parent's alert.
    let a2o = &r.outages[2];
    assert_eq!(a2o.worst_state, State::Unreachable);
    assert_eq!(a2o.explained_by.as_deref(), Some("a1"));
    let via = a2o.deliveries.iter().find(|d| d.receiver == "ops").unwrap();
    assert_eq!(via.via.as_deref(), Some("a1"));
    assert_eq!(via.since_start_seconds, Some(55.0));
    let b1d = &r.outages[3];
    assert!(!b1d.counts_as_downtime && b1d.worst_state == State::Degraded);
    assert_eq!(r.outages[4].ended_at, None);
    assert_eq!(r.outages[4].in_window_seconds, 600.0);
    assert!(
        !r.outages[0].drill_tagged,
        "p1's outage began before the drill"
    );
    assert_eq!(s.detection.count, 4);
    assert_eq!(s.detection.median_seconds, Some(30.0));
    assert_eq!(s.alert_delivery.count, 2);
    assert_eq!(s.alert_delivery.max_seconds, Some(65.0));
    assert_eq!(s.acknowledgement.count, 1);
    assert_eq!(s.restoration.count, 3);

    // Expected faults.
    let e = &r.expected_faults;
    assert_eq!(e.len(), 2);
    assert_eq!((e[0].target.as_str(), e[0].detected), ("a1", true));
    assert_eq!(e[0].detection_seconds, Some(40.0));
    assert_eq!(e[0].incident_id, Some(a1o.incident_id));
    assert_eq!((e[1].target.as_str(), e[1].detected), ("p1", false));
    assert_eq!(e[1].detection_seconds, None);

    // Timeline: sorted, with state changes, alerts and notes together.
    assert!(r.timeline.windows(2).all(|w| w[0].at <= w[1].at));
    let kinds = |k: TimelineKind| r.timeline.iter().filter(|e| e.kind == k).count();
    assert_eq!(kinds(TimelineKind::DrillStarted), 1);
    assert_eq!(kinds(TimelineKind::DrillEnded), 1);
    assert_eq!(kinds(TimelineKind::Note), 3);
    assert_eq!(kinds(TimelineKind::IncidentStarted), 5);
    assert_eq!(kinds(TimelineKind::Restored), 4);
    assert_eq!(kinds(TimelineKind::Acknowledged), 1);
    assert_eq!(
        kinds(TimelineKind::AlertDelivered),
        2,
        "ops firing + resolved, not c1's"
    );
    assert_eq!(kinds(TimelineKind::AlertPending), 1);
    let delivered = r
        .timeline
        .iter()
        .find(|e| e.kind == TimelineKind::AlertDelivered)
        .unwrap();
    assert_eq!(delivered.at, t(11 * M + 5));
    assert!(
        delivered.text.as_deref().unwrap().starts_with("[DIỄN TẬP]"),
        "{delivered:?}"
    );
    assert_eq!(r.notes.len(), 3);

    // The JSON form carries the same numbers.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["summary"]["worst_operator"]["key"], "viettel");
    assert_eq!(v["targets"][0]["drill"]["downtime_seconds"], 900.0);
    assert_eq!(v["timeline"][0]["kind"], "incident_started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_csv_and_json_show_the_same_numbers() {
    use commwatch::web::page::i18n::Lang;
    use commwatch::web::page::{PageCtx, drills::render_report};
    let (r, _dir) = build().await;
    let json = serde_json::to_value(&r).unwrap();
    for lang in [Lang::Vi, Lang::En] {
        let ctx = PageCtx::plain(lang, "/drills/1", Default::default());
        let html = render_report(&ctx, &r, t(3 * 3600), None, None).into_string();
        let csv = commwatch::web::page::report_csv::render(&r, lang);
        let n = report_check::assert_agree(&html, &csv, &json, lang);
        assert!(n > 60, "only {n} values compared");

        // The known numbers themselves, as each form writes them.
        let rows = report_check::parse_csv(&csv);
        let secs = report_check::sections(&rows);
        let targets = report_check::table(&secs, 2);
        let a1 = targets.iter().find(|x| x["target"] == "a1").unwrap();
        assert_eq!(a1["availability_percent"], "75.000");
        assert_eq!(a1["baseline_availability_percent"], "83.333");
        assert_eq!(a1["downtime_minutes"], "15.00");
        assert_eq!(a1["change_points"], "-8.333");
        let outages = report_check::table(&secs, 3);
        assert_eq!(
            outages[1]["started_at"], "2026-11-20 14:10:00",
            "local time"
        );
        assert_eq!(outages[1]["first_alert_seconds"], "65.0");
        assert_eq!(outages[1]["acknowledged_by"], "truc-ban-1");
        let deliveries = report_check::table(&secs, 4);
        assert_eq!(deliveries.len(), 4);
        let expected = report_check::table(&secs, 5);
        assert_eq!(expected[0]["detection_seconds"], "40.0");
        assert_eq!(expected[1]["detected"], "false");
        match lang {
            Lang::Vi => {
                assert!(html.contains("<html lang=\"vi\">"));
                assert!(html.contains("<span class=\"pct\">75,0 %</span>"));
                assert!(html.contains("Báo cáo sau diễn tập"));
                assert!(
                    html.contains("20/11/2026 14:10:00 (+07)"),
                    "local times with zone"
                );
                assert!(html.contains("✔ Đã phát hiện") && html.contains("✖ Không phát hiện"));
                assert!(html.contains("Nhà mạng bị ảnh hưởng nặng nhất"));
                assert!(html.contains("−8,3 điểm %"), "baseline change");
            }
            Lang::En => {
                assert!(html.contains("<span class=\"pct\">75.0%</span>"));
                assert!(html.contains("After-action report"));
                assert!(html.contains("✔ Detected") && html.contains("✖ Not detected"));
                assert!(
                    html.contains("+1 min 5 s"),
                    "alert delivery after the first failure"
                );
                assert!(html.contains("via"), "a2's alert came through its parent");
            }
        }
    }
}

//! The store contract, run on both engines (a SQLite file and a real PostgreSQL database):
//! rollups agree with the raw samples over any range, retention prunes raw rows without losing
//! history, incidents, state, acknowledgements and heartbeats survive a reopen, a failing
//! statement is rolled back alone, and migrations upgrade every earlier schema and refuse a
//! newer one.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use commwatch::args;
use commwatch::state::{IncidentChange, State, TargetState};
use commwatch::store::{
    IncidentFilter, IncidentWrite, Resolution, Retention, SampleRow, Store, StoreError,
};

mod common;
use common::stores::Backing;

fn t(s: i64) -> DateTime<Utc> {
    // 2026-11-20T00:00:00Z plus `s` seconds.
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
        .single()
        .unwrap()
        + chrono::Duration::seconds(s)
}

fn sample(at: DateTime<Utc>, ok: bool, latency_ms: u64) -> SampleRow {
    SampleRow {
        at,
        ok,
        degraded: false,
        latency: Duration::from_millis(latency_ms),
        error: (!ok).then_some(commwatch::probe::ErrorCode::Timeout),
        detail: None,
        loss: Some(if ok { 0.0 } else { 1.0 }),
        drill: None,
    }
}

/// Three days of one-minute samples for two targets with known failures.
async fn fill(store: &Store) -> Vec<(DateTime<Utc>, bool, u64)> {
    let mut truth = Vec::new();
    let a: Arc<str> = Arc::from("ht-a");
    let b: Arc<str> = Arc::from("ht-b");
    for m in 0..(3 * 24 * 60) {
        let at = t(m * 60 + 7);
        // Target a fails for 90 minutes on day 2, and every 50th minute.
        let ok = !((1_500..1_590).contains(&m) || m % 50 == 0);
        let latency = 20 + (m % 13) as u64;
        truth.push((at, ok, latency));
        let st = TargetState::new(at);
        store
            .record(a.clone(), sample(at, ok, latency), st.clone())
            .await
            .unwrap();
        store
            .record(b.clone(), sample(at, true, 5), st)
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    truth
}

contract!(rollups_match_raw_samples_over_any_range);
async fn rollups_match_raw_samples_over_any_range(b: Backing) {
    let (store, writer) = b.open(Retention::default());
    let truth = fill(&store).await;

    for (from, to) in [
        (t(0), t(3 * 86_400)),
        (t(3_600 * 5 + 600), t(86_400 * 2 + 3_600 * 3 + 1_200)),
        (t(1_500 * 60), t(1_590 * 60)),
        (t(100), t(160)),
    ] {
        let expect: Vec<_> = truth
            .iter()
            .filter(|(at, ..)| crate_floor_minute(*at) >= crate_floor_minute(from) && *at < to)
            .collect();
        let ok = expect.iter().filter(|(_, ok, _)| *ok).count() as u64;
        let avail = store
            .availability(Some(vec!["ht-a".into()]), from, to)
            .await
            .unwrap()
            .remove("ht-a")
            .unwrap();
        assert_eq!(avail.count, expect.len() as u64, "{from}..{to}");
        assert_eq!(avail.ok, ok, "{from}..{to}");
        let lat: Vec<u64> = expect
            .iter()
            .filter(|(_, ok, _)| *ok)
            .map(|(_, _, l)| *l)
            .collect();
        if !lat.is_empty() {
            let avg = lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1e3;
            assert!((avail.latency_avg_seconds.unwrap() - avg).abs() < 1e-9);
            assert_eq!(
                avail.latency_min_seconds.unwrap(),
                *lat.iter().min().unwrap() as f64 / 1e3
            );
            assert_eq!(
                avail.latency_max_seconds.unwrap(),
                *lat.iter().max().unwrap() as f64 / 1e3
            );
        }
    }

    // All targets at once, and a group sum.
    let all = store.availability(None, t(0), t(3 * 86_400)).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all["ht-b"].ratio, Some(1.0));
    let group = store
        .group_availability(vec!["ht-a".into(), "ht-b".into()], t(0), t(3 * 86_400))
        .await
        .unwrap();
    assert_eq!(group.count, all["ht-a"].count + all["ht-b"].count);
    assert_eq!(group.ok, all["ht-a"].ok + all["ht-b"].ok);
    assert_eq!(group.loss_avg.map(|l| (l * 1e6).round()), {
        let fails = (group.count - group.ok) as f64;
        Some((fails / group.count as f64 * 1e6).round())
    });

    // Hourly series over day 2 shows the outage hour by hour.
    let series = store
        .series("ht-a", Resolution::Hour, t(86_400), t(2 * 86_400))
        .await
        .unwrap();
    assert_eq!(series.len(), 24);
    let outage_hour = series
        .iter()
        .find(|b| b.at == t(1_500 / 60 * 3_600))
        .unwrap();
    assert!(outage_hour.availability.ok < 30, "{outage_hour:?}");

    drop(store);
    writer.join().await;
}

fn crate_floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let ms = t.timestamp_millis();
    Utc.timestamp_millis_opt(ms - ms.rem_euclid(60_000))
        .single()
        .unwrap()
}

contract!(retention_prunes_raw_rows_but_keeps_history);
async fn retention_prunes_raw_rows_but_keeps_history(b: Backing) {
    let retention = Retention {
        raw: Duration::from_secs(86_400),
        minute: Duration::from_secs(2 * 86_400),
    };
    let (store, writer) = b.open(retention);
    fill(&store).await;
    let before = store.availability(None, t(0), t(3 * 86_400)).await.unwrap();
    // Pretend it is the end of day 3: raw samples older than a day go, minute buckets older
    // than two days go, hours and days stay.
    let now = t(3 * 86_400);
    let mut total = commwatch::store::Pruned::default();
    loop {
        let p = store.maintain(now).await.unwrap();
        total.samples += p.samples;
        total.minute_buckets += p.minute_buckets;
        if p.samples == 0 && p.minute_buckets == 0 {
            break;
        }
    }
    assert_eq!(total.samples, 2 * 2 * 24 * 60, "two days of two targets");
    let raw_left = store.sample_count("ht-a").await.unwrap();
    assert_eq!(raw_left, 24 * 60);
    // Availability over the whole range is unchanged: it never needed the raw rows, and the
    // pruned minutes are covered by hour buckets except at ragged edges (none here).
    let after = store.availability(None, t(0), t(3 * 86_400)).await.unwrap();
    assert_eq!(before, after);
    let minutes = store
        .series("ht-a", Resolution::Minute, t(0), t(3 * 86_400))
        .await
        .unwrap();
    assert_eq!(
        minutes.len(),
        2 * 24 * 60,
        "only the last two days of minutes remain"
    );
    drop(store);
    writer.join().await;
}

contract!(incidents_and_state_survive_a_reopen);
async fn incidents_and_state_survive_a_reopen(b: Backing) {
    let target: Arc<str> = Arc::from("ht-ky-anh-viettel");
    {
        let (store, writer) = b.open(Retention::default());
        let mut st = TargetState::new(t(0));
        st.state = State::Down;
        st.since = t(180);
        st.incident_open = true;
        store
            .record_incident(
                target.clone(),
                IncidentWrite {
                    change: IncidentChange::Opened {
                        started_at: t(60),
                        detected_at: t(180),
                        state: State::Down,
                        explained_by: None,
                    },
                    cause_error: Some(commwatch::probe::ErrorCode::ConnRefused),
                    cause_detail: Some("connect: refused".into()),
                    drill: None,
                },
            )
            .await
            .unwrap();
        store
            .record(target.clone(), sample(t(180), false, 0), st)
            .await
            .unwrap();
        store.flush().await.unwrap();
        drop(store);
        writer.join().await;
    }
    let (store, writer) = b.open(Retention::default());
    let states = store.load_states().await.unwrap();
    let st = &states["ht-ky-anh-viettel"];
    assert_eq!(st.state.state, State::Down);
    assert_eq!(st.state.since, t(180));
    assert!(st.state.incident_open);
    assert_eq!(st.last.as_ref().unwrap().error.as_deref(), Some("timeout"));
    let open = store
        .incidents(IncidentFilter {
            open: Some(true),
            limit: 10,
            ..IncidentFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].started_at, t(60));
    assert_eq!(open[0].cause_error.as_deref(), Some("conn_refused"));
    store
        .record_incident(
            target.clone(),
            IncidentWrite {
                change: IncidentChange::Closed { ended_at: t(600) },
                cause_error: None,
                cause_detail: None,
                drill: None,
            },
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    let all = store
        .incidents(IncidentFilter {
            limit: 10,
            ..IncidentFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].ended_at, Some(t(600)));
    assert_eq!(all[0].duration_seconds, 540.0);
    drop(store);
    writer.join().await;
}

contract!(a_failing_statement_is_rolled_back_alone);
async fn a_failing_statement_is_rolled_back_alone(b: Backing) {
    let (store, writer) = b.open(Retention::default());
    let a: Arc<str> = Arc::from("ht-a");
    // A sample queued before a bad statement from another module...
    store
        .record(a.clone(), sample(t(0), true, 5), TargetState::new(t(0)))
        .await
        .unwrap();
    let bad = store
        .write(|tx| {
            tx.execute("INSERT INTO silences(id) VALUES (1)", args![])?;
            Ok(())
        })
        .await;
    assert!(
        bad.is_err(),
        "a NOT NULL violation must come back as an error"
    );
    // ...and one after it are both committed; the writer is not stuck on the bad batch.
    store
        .record(a.clone(), sample(t(60), true, 5), TargetState::new(t(60)))
        .await
        .unwrap();
    let n = store
        .write(|tx| {
            tx.query_one("SELECT count(*) FROM silences", args![])?
                .get::<i64>(0)
        })
        .await
        .unwrap();
    assert_eq!(n, 0, "the failed statement left a row behind");
    store.flush().await.unwrap();
    assert_eq!(store.sample_count("ht-a").await.unwrap(), 2);
    assert!(
        !store
            .health
            .degraded
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    drop(store);
    writer.join().await;
}

contract!(acknowledgements_and_pushes_are_kept);
async fn acknowledgements_and_pushes_are_kept(b: Backing) {
    use commwatch::probe::{Push, PushStatus};
    use commwatch::store::acks::AckOutcome;
    let target: Arc<str> = Arc::from("ht-thach-ha-vnpt");
    let (store, writer) = b.open(Retention::default());
    store
        .record_incident(
            target.clone(),
            IncidentWrite {
                change: IncidentChange::Opened {
                    started_at: t(0),
                    detected_at: t(120),
                    state: State::Down,
                    explained_by: None,
                },
                cause_error: Some(commwatch::probe::ErrorCode::Timeout),
                cause_detail: None,
                drill: None,
            },
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    let id = store
        .incidents(IncidentFilter {
            limit: 1,
            ..IncidentFilter::default()
        })
        .await
        .unwrap()[0]
        .id;
    let first = store
        .ack_incident(id, "truc-ban-1".into(), "Đã gọi VNPT".into(), t(200))
        .await
        .unwrap();
    let AckOutcome::Recorded(first) = first else {
        panic!("{first:?}")
    };
    let second = store
        .ack_incident(id, "truc-ban-2".into(), "Nhận ca".into(), t(300))
        .await
        .unwrap();
    assert!(
        matches!(second, AckOutcome::Recorded(ref a) if a.id > first.id),
        "{second:?}"
    );
    assert!(matches!(
        store
            .ack_incident(id + 1000, "x".into(), "y".into(), t(300))
            .await
            .unwrap(),
        AckOutcome::NoSuchIncident
    ));
    store.record_push(
        "ht-push".into(),
        Push {
            at: t(400),
            status: PushStatus::Ok,
            message: Some("máy phát chạy".into()),
            battery: None,
        },
        7,
    );
    store.flush().await.unwrap();
    // The push is queued by a task of its own; wait for it to reach the writer.
    let mut pushes = std::collections::HashMap::new();
    for _ in 0..100 {
        store.flush().await.unwrap();
        pushes = store.load_pushes().await.unwrap();
        if !pushes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(store);
    writer.join().await;

    let (store, writer) = b.open(Retention::default());
    let acks = store.acks_for(vec![id]).await.unwrap();
    let names: Vec<_> = acks[&id].iter().map(|a| a.author.as_str()).collect();
    assert_eq!(names, ["truc-ban-1", "truc-ban-2"]);
    assert_eq!(acks[&id][0].comment, "Đã gọi VNPT");
    assert_eq!(acks[&id][0].target, "ht-thach-ha-vnpt");
    let pushes_after = store.load_pushes().await.unwrap();
    assert_eq!(pushes, pushes_after);
    let (push, count) = &pushes_after["ht-push"];
    assert_eq!((push.at, push.status, *count), (t(400), PushStatus::Ok, 7));
    assert_eq!(push.message.as_deref(), Some("máy phát chạy"));
    // Closing the incident refuses further acknowledgements.
    store
        .record_incident(
            target,
            IncidentWrite {
                change: IncidentChange::Closed { ended_at: t(900) },
                cause_error: None,
                cause_detail: None,
                drill: None,
            },
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert!(matches!(
        store
            .ack_incident(id, "x".into(), "late".into(), t(1000))
            .await
            .unwrap(),
        AckOutcome::Closed
    ));
    assert!(store.size_bytes().await.unwrap() > 0);
    drop(store);
    writer.join().await;
}

contract!(recent_samples_come_newest_first);
async fn recent_samples_come_newest_first(b: Backing) {
    let (store, writer) = b.open(Retention::default());
    let a: Arc<str> = Arc::from("ht-a");
    for m in 0..5 {
        store
            .record(
                a.clone(),
                sample(t(m * 60), m != 3, 10 + m as u64),
                TargetState::new(t(0)),
            )
            .await
            .unwrap();
    }
    // The same instant again replaces the sample instead of failing the batch.
    store
        .record(a.clone(), sample(t(240), false, 0), TargetState::new(t(0)))
        .await
        .unwrap();
    store.flush().await.unwrap();
    let recent = store.recent_samples("ht-a", 3).await.unwrap();
    let at: Vec<_> = recent.iter().map(|s| s.at).collect();
    assert_eq!(at, [t(240), t(180), t(120)]);
    assert!(!recent[0].ok && !recent[1].ok && recent[2].ok);
    assert_eq!(recent[2].latency_seconds, 0.012);
    assert_eq!(store.sample_count("ht-a").await.unwrap(), 5);
    assert_eq!(store.sample_count("ht-none").await.unwrap(), 0);
    drop(store);
    writer.join().await;
}

contract!(long_ranges_read_weeks_that_match_raw_samples);
/// Ranges past a week read hour, day and week rollups the writer kept as samples arrived: over
/// 23 days of ten-minute probes (two months ago), every range counts exactly the samples from
/// its first hour, whether data follows its end (the exact plan) or it ends at the newest
/// sample (the last week read whole).
async fn long_ranges_read_weeks_that_match_raw_samples(b: Backing) {
    let (store, writer) = b.open(Retention::default());
    let key: Arc<str> = Arc::from("ht-long");
    let mut truth = Vec::new();
    for m in 0..(23 * 144) {
        let at = t(EARLIER + m * 600 + 7);
        // Fails for a day in the second week and every 31st probe.
        let ok = !((1_300..1_444).contains(&m) || m % 31 == 0);
        let latency = 10 + (m % 17) as u64;
        truth.push((at, ok, latency));
        store
            .record(key.clone(), sample(at, ok, latency), TargetState::new(at))
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    let first_hour = |at: DateTime<Utc>| {
        let ms = Resolution::Hour.floor(at.timestamp_millis());
        Utc.timestamp_millis_opt(ms).single().unwrap()
    };
    let at = |s: i64| t(EARLIER + s);
    let end = at(23 * 86_400);
    for (from, to) in [
        (at(0), end),
        (at(3_600 * 5 + 600), end),
        (
            at(86_400 * 2 + 3_600 * 3),
            at(86_400 * 19 + 3_600 * 5 + 1_200),
        ),
        (at(86_400 * 4 + 3_600 * 20), at(86_400 * 12)),
        (at(86_400 * 9 + 77), end + chrono::Duration::hours(30)),
    ] {
        let start = first_hour(from);
        let expect: Vec<_> = truth
            .iter()
            .filter(|(at, ..)| *at >= start && *at < to)
            .collect();
        let ok = expect.iter().filter(|(_, ok, _)| *ok).count() as u64;
        let avail = store
            .availability(Some(vec!["ht-long".into()]), from, to)
            .await
            .unwrap()
            .remove("ht-long")
            .unwrap();
        assert_eq!(avail.count, expect.len() as u64, "{from}..{to}");
        assert_eq!(avail.ok, ok, "{from}..{to}");
        let lat: Vec<u64> = expect
            .iter()
            .filter(|(_, ok, _)| *ok)
            .map(|(_, _, l)| *l)
            .collect();
        let avg = lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1e3;
        assert!(
            (avail.latency_avg_seconds.unwrap() - avg).abs() < 1e-9,
            "{from}..{to}: {avail:?}"
        );
        assert_eq!(
            avail.latency_max_seconds.unwrap(),
            *lat.iter().max().unwrap() as f64 / 1e3
        );
        // Every target at once and the group sum read the same buckets.
        let all = store.availability(None, from, to).await.unwrap();
        assert_eq!(all["ht-long"].count, avail.count, "{from}..{to}");
        let group = store
            .group_availability(vec!["ht-long".into()], from, to)
            .await
            .unwrap();
        assert_eq!(
            (group.count, group.ok),
            (avail.count, avail.ok),
            "{from}..{to}"
        );
    }
    // The week series holds every sample once.
    let weeks = store
        .series("ht-long", Resolution::Week, t(EARLIER - 8 * 86_400), end)
        .await
        .unwrap();
    assert!(weeks.len() >= 4 && weeks.len() <= 5, "{weeks:?}");
    let counted: u64 = weeks.iter().map(|w| w.availability.count).sum();
    assert_eq!(counted, truth.len() as u64);
    drop(store);
    writer.join().await;
}

/// Two months before t(0): every range of the test above ends in the past, so the store looks
/// for data after its end instead of taking it as ending now.
const EARLIER: i64 = -60 * 86_400;

contract!(a_long_range_ending_now_reads_its_last_week_whole);
/// The pages' "last 30 days": the view starts at a local midnight and ends when the request
/// came in, and reads the week holding that moment as one bucket; it counts every sample of
/// the view, none twice.
async fn a_long_range_ending_now_reads_its_last_week_whole(b: Backing) {
    let (store, writer) = b.open(Retention::default());
    let key: Arc<str> = Arc::from("ht-now");
    let now = Utc::now();
    let first = now - chrono::Duration::days(12);
    let mut truth = Vec::new();
    for m in 0..(12 * 48) {
        let at = first + chrono::Duration::minutes(30 * m);
        let ok = m % 7 != 0;
        truth.push((at, ok));
        store
            .record(key.clone(), sample(at, ok, 12), TargetState::new(at))
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    let to = Utc::now();
    let from = commwatch::store::view_start(now - chrono::Duration::days(10), to);
    let start = from;
    assert_eq!(
        Resolution::Day.floor(from.timestamp_millis()),
        from.timestamp_millis()
    );
    let expect: Vec<_> = truth
        .iter()
        .filter(|(at, _)| *at >= start && *at < to)
        .collect();
    let avail = store
        .availability(Some(vec!["ht-now".into()]), from, to)
        .await
        .unwrap()
        .remove("ht-now")
        .unwrap();
    assert_eq!(avail.count, expect.len() as u64);
    assert_eq!(avail.ok, expect.iter().filter(|(_, ok)| *ok).count() as u64);
    let all = store.availability(None, from, to).await.unwrap();
    assert_eq!(
        (all["ht-now"].count, all["ht-now"].ok),
        (avail.count, avail.ok)
    );
    drop(store);
    writer.join().await;
}

contract!(thirty_seeded_days_read_the_same);
async fn thirty_seeded_days_read_the_same(b: Backing) {
    let (store, writer) = b.open(Retention::default());
    let to = t(30 * 86_400);
    let from = t(0);
    let keys: Vec<String> = (0..30).map(|i| format!("ht-seed-{i:02}")).collect();
    store.seed_rollups(keys.clone(), from, to).await.unwrap();
    let all = store.availability(None, from, to).await.unwrap();
    assert_eq!(all.len(), 30);
    // Every bucket holds one probe per minute; the target's id modulo 3 failed per bucket.
    let minutes = 30 * 1_440;
    for a in all.values() {
        assert_eq!(a.count, minutes, "{a:?}");
        assert!(a.ok <= a.count && a.count - a.ok < 200, "{a:?}");
    }
    let group = store.group_availability(keys, from, to).await.unwrap();
    assert_eq!(group.count, 30 * minutes);
    drop(store);
    writer.join().await;
}

/// The SQLite migrations as files, to build every earlier schema the way older commwatch
/// binaries did (statements applied in order, `PRAGMA user_version` = N).
const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../src/store/migrations/sqlite/V1__init.sql"),
    include_str!("../src/store/migrations/sqlite/V2__history.sql"),
    include_str!("../src/store/migrations/sqlite/V3__alerting.sql"),
    include_str!("../src/store/migrations/sqlite/V4__acks.sql"),
    include_str!("../src/store/migrations/sqlite/V5__drills.sql"),
    include_str!("../src/store/migrations/sqlite/V6__heartbeats.sql"),
    include_str!("../src/store/migrations/sqlite/V7__week_rollups.sql"),
];

/// Wednesday 2026-10-07 00:00 in Vietnam (UTC+7): a local day in the middle of its week.
const OLD_DAY: DateTime<Utc> = DateTime::from_timestamp_millis(1_791_306_000_000).unwrap();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrades_from_every_earlier_schema() {
    assert_eq!(SQLITE_MIGRATIONS.len(), commwatch::store::latest_sqlite());
    for n in 1..=SQLITE_MIGRATIONS.len() {
        let b = Backing::sqlite();
        {
            let conn = rusqlite::Connection::open(b.sqlite_path()).unwrap();
            for sql in &SQLITE_MIGRATIONS[..n] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", n as i64).unwrap();
            conn.execute("INSERT INTO targets(id, key) VALUES (1, 'ht-old')", [])
                .unwrap();
            conn.execute(
                "INSERT INTO samples(target_id, at_ms, ok, latency_us) VALUES (1, 60000, 1, 5000)",
                [],
            )
            .unwrap();
            if (2..SQLITE_MIGRATIONS.len()).contains(&n) {
                // A day an older binary rolled up, before week buckets existed.
                conn.execute(
                    "INSERT INTO rollup_day(target_id, bucket_ms, count, ok, degraded, latency_sum_us,
                         latency_min_us, latency_max_us, loss_sum, loss_count)
                     VALUES (1, ?1, 1440, 1400, 0, 7000000, 4000, 6000, 0, 0)",
                    [OLD_DAY.timestamp_millis()],
                )
                .unwrap();
            }
        }
        let (store, writer) = b.open(Retention::default());
        assert_eq!(
            store.sample_count("ht-old").await.unwrap(),
            1,
            "from schema {n}"
        );
        if (2..SQLITE_MIGRATIONS.len()).contains(&n) {
            // The upgrade built the day's week: a month around it reads the day once.
            let month = store
                .availability(
                    Some(vec!["ht-old".into()]),
                    OLD_DAY - chrono::Duration::days(12),
                    OLD_DAY + chrono::Duration::days(18),
                )
                .await
                .unwrap()
                .remove("ht-old")
                .unwrap();
            assert_eq!((month.count, month.ok), (1440, 1400), "from schema {n}");
            let weeks = store
                .series(
                    "ht-old",
                    Resolution::Week,
                    OLD_DAY - chrono::Duration::days(7),
                    OLD_DAY + chrono::Duration::days(7),
                )
                .await
                .unwrap();
            assert_eq!(weeks.len(), 1, "from schema {n}: {weeks:?}");
        }
        // The upgraded database takes every kind of row the latest schema has.
        store
            .record(
                Arc::from("ht-old"),
                sample(t(0), true, 5),
                TargetState::new(t(0)),
            )
            .await
            .unwrap();
        store.flush().await.unwrap();
        assert_eq!(
            store.sample_count("ht-old").await.unwrap(),
            2,
            "from schema {n}"
        );
        drop(store);
        writer.join().await;
        // And it opens again without applying anything twice.
        let (store, writer) = b.open(Retention::default());
        drop(store);
        writer.join().await;
    }
}

contract!(a_newer_schema_is_refused_and_left_unchanged);
async fn a_newer_schema_is_refused_and_left_unchanged(b: Backing) {
    let (store, writer) = b.open(Retention::default());
    store
        .record(
            Arc::from("ht-a"),
            sample(t(0), true, 5),
            TargetState::new(t(0)),
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    drop(store);
    writer.join().await;
    // A newer commwatch applied migration 99.
    let newer = "INSERT INTO refinery_schema_history(version, name, applied_on, checksum)
                 VALUES (99, 'from_the_future', '2027-01-01T00:00:00Z', '1')";
    let count = "SELECT count(*) FROM samples";
    let rows_before = match &b {
        Backing::Sqlite(_) => {
            let conn = rusqlite::Connection::open(b.sqlite_path()).unwrap();
            conn.execute(newer, []).unwrap();
            conn.query_row(count, [], |r| r.get::<_, i64>(0))
                .unwrap()
                .to_string()
        }
        Backing::Postgres(db) => {
            common::postgres::server().run_sql(&db.name, newer);
            common::postgres::server().run_sql(&db.name, count)[0][0]
                .clone()
                .unwrap()
        }
    };
    let err = match &b {
        Backing::Sqlite(_) => Store::open(&b.sqlite_path(), Retention::default()).err(),
        Backing::Postgres(_) => Store::open_postgres(&b.settings(), Retention::default()).err(),
    }
    .expect("a newer schema must be refused");
    assert!(matches!(err, StoreError::TooNew(_, 99, _)), "{err}");
    assert!(
        err.to_string().contains("newer than this commwatch"),
        "{err}"
    );
    let rows_after = match &b {
        Backing::Sqlite(_) => {
            let conn = rusqlite::Connection::open(b.sqlite_path()).unwrap();
            conn.query_row(count, [], |r| r.get::<_, i64>(0))
                .unwrap()
                .to_string()
        }
        Backing::Postgres(db) => common::postgres::server().run_sql(&db.name, count)[0][0]
            .clone()
            .unwrap(),
    };
    assert_eq!(rows_before, rows_after);
}

/// A PostgreSQL record at schema 1 (before week buckets) gains the weeks of its days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrades_from_the_first_schema() {
    let b = Backing::postgres("upgrade_v1");
    let Backing::Postgres(db) = &b else {
        unreachable!()
    };
    let (store, writer) = b.open(Retention::default());
    drop(store);
    writer.join().await;
    // Back to schema 1, as a binary from before the week buckets left it, with a day of its own.
    let pg = common::postgres::server();
    pg.run_sql(&db.name, "DROP TABLE rollup_week");
    pg.run_sql(
        &db.name,
        "DELETE FROM refinery_schema_history WHERE version > 1",
    );
    pg.run_sql(
        &db.name,
        "INSERT INTO targets(id, key) VALUES (1, 'ht-old')",
    );
    pg.run_sql(
        &db.name,
        &format!(
            "INSERT INTO rollup_day(target_id, bucket_ms, count, ok, degraded, latency_sum_us,
                 latency_min_us, latency_max_us, loss_sum, loss_count)
             VALUES (1, {}, 1440, 1400, 0, 7000000, 4000, 6000, 0, 0)",
            OLD_DAY.timestamp_millis()
        ),
    );
    let (store, writer) = b.open(Retention::default());
    let month = store
        .availability(
            Some(vec!["ht-old".into()]),
            OLD_DAY - chrono::Duration::days(12),
            OLD_DAY + chrono::Duration::days(18),
        )
        .await
        .unwrap()
        .remove("ht-old")
        .unwrap();
    assert_eq!((month.count, month.ok), (1440, 1400));
    assert_eq!(
        pg.run_sql(&db.name, "SELECT count(*), sum(count) FROM rollup_week"),
        vec![vec![Some("1".to_string()), Some("1440".to_string())]]
    );
    drop(store);
    writer.join().await;
}

/// A refused connection at start is an error naming the place and the cause, never the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusals_name_the_host_and_the_cause() {
    let b = Backing::postgres("refusals");
    let good = b.settings();
    let secret = good.password.clone().unwrap();
    let port = common::postgres::server().port();

    let mut wrong = good.clone();
    wrong.password = Some("not-the-password".into());
    let e = Store::open_postgres(&wrong, Retention::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}/")), "{e}");
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(
        !e.contains("not-the-password") && !e.contains(&secret),
        "{e}"
    );

    let mut missing = good.clone();
    missing.url = format!("postgres://{}@127.0.0.1:{port}/no_such_db", {
        let Backing::Postgres(db) = &b else {
            unreachable!()
        };
        db.role.clone()
    });
    let e = Store::open_postgres(&missing, Retention::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("no_such_db") && e.contains("does not exist"),
        "{e}"
    );

    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = refused.local_addr().unwrap().port();
    drop(refused);
    let mut unreachable = good.clone();
    unreachable.url = format!("postgres://commwatch@127.0.0.1:{closed_port}/commwatch");
    let e = Store::open_postgres(&unreachable, Retention::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(&format!("127.0.0.1:{closed_port}/commwatch")),
        "{e}"
    );
    assert!(e.to_lowercase().contains("refused"), "{e}");
}

/// `store copy` refuses a destination that holds another record: the second operations room's
/// target 1 is not the first room's target 1, and its history must not be filed under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_into_another_record_is_refused() {
    let dest = Backing::postgres("copy_refused");
    let (to, to_writer) = dest.open(Retention::default());
    for (i, key) in ["ht-room-a-target", "ht-room-b-target"].iter().enumerate() {
        let src = Backing::sqlite();
        let (from, from_writer) = src.open(Retention::default());
        from.record(
            Arc::from(*key),
            sample(t(0), true, 5),
            TargetState::new(t(0)),
        )
        .await
        .unwrap();
        from.flush().await.unwrap();
        let r = commwatch::store::copy::copy(&from, &to, t(60), |_| {}).await;
        if i == 0 {
            assert!(r.unwrap().verified());
        } else {
            let e = r.expect_err("the second record must be refused");
            assert!(matches!(e, StoreError::Refused(_)), "{e}");
            assert!(e.to_string().contains("another record"), "{e}");
        }
        drop(from);
        from_writer.join().await;
    }
    // Nothing of the second room reached the destination.
    assert_eq!(to.sample_count("ht-room-b-target").await.unwrap(), 0);
    assert_eq!(to.sample_count("ht-room-a-target").await.unwrap(), 1);
    drop(to);
    to_writer.join().await;
}

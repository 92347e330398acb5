//! The store on a real SQLite file: rollups agree with the raw samples over any range,
//! retention prunes raw rows without losing history, incidents and state survive a reopen.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use commwatch::state::{IncidentChange, State, TargetState};
use commwatch::store::{IncidentFilter, IncidentWrite, Resolution, Retention, SampleRow, Store};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_match_raw_samples_over_any_range() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = Store::open(&dir.path().join("s.db"), Retention::default()).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_raw_rows_but_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        raw: Duration::from_secs(86_400),
        minute: Duration::from_secs(2 * 86_400),
    };
    let (store, writer) = Store::open(&dir.path().join("s.db"), retention).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_and_state_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let target: Arc<str> = Arc::from("ht-ky-anh-viettel");
    {
        let (store, writer) = Store::open(&path, Retention::default()).unwrap();
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
    let (store, writer) = Store::open(&path, Retention::default()).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_is_rolled_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = Store::open(&dir.path().join("s.db"), Retention::default()).unwrap();
    let a: Arc<str> = Arc::from("ht-a");
    // A sample queued before a bad statement from another module...
    store
        .record(a.clone(), sample(t(0), true, 5), TargetState::new(t(0)))
        .await
        .unwrap();
    let bad = store
        .write(|tx| {
            tx.execute("INSERT INTO silences(id) VALUES (1)", [])?;
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
        .write(|tx| tx.query_row("SELECT count(*) FROM silences", [], |r| r.get::<_, i64>(0)))
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

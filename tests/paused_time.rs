//! Timing that takes hours, tested in milliseconds: the daemon on paused tokio time with its
//! clock following tokio's (`commwatch::time::follow_tokio_clock`), so timers and timestamps
//! agree. A drill ends by itself at its planned end two hours on, and a site whose heartbeat
//! stops is DOWN once its period and grace have passed — no wall-clock waiting. Paused time
//! jumps ahead whenever the runtime is idle, also while the store's writer thread works, so
//! these tests use no sockets of their own and read what the writer wrote until it is there.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use commwatch::config::drills::Scope;
use commwatch::drill::{NewDrill, db, service};
use commwatch::state::State;

/// A heartbeat site: no socket, so paused time never races a real network answer.
const SITE: &str = r#"
[[targets]]
id = "ht-generator"
name = "Máy phát Thạch Hà"
kind = "heartbeat"
token = "generator-token-for-paused-time"
period = "1h"
grace = "30m"
interval = "60s"
timeout = "1s"
failure_threshold = 2
success_threshold = 1
"#;

#[tokio::test(start_paused = true)]
async fn a_two_hour_drill_ends_by_itself_two_hours_later() {
    let _clock = commwatch::time::follow_tokio_clock();
    let dir = tempfile::tempdir().unwrap();
    let app = common::start_app(dir.path(), SITE).await;
    let started = commwatch::time::now_ms();
    let new = NewDrill {
        name: "Diễn tập hai giờ".into(),
        scenario: String::new(),
        scope: Scope::parse(&BTreeMap::new()).unwrap(),
        leaders: vec![],
        interval: Duration::from_secs(10),
        duration: Duration::from_secs(2 * 3_600),
        baseline: Duration::from_secs(3_600),
        planned_start: None,
        schedule_key: None,
    };
    let d = service::start(&app.state, new, "test", started)
        .await
        .unwrap();
    let id = d.id;

    tokio::time::sleep(Duration::from_secs(3_600)).await;
    let half = app
        .state
        .store
        .query(move |c| db::get(c, id))
        .await
        .unwrap()
        .unwrap();
    assert!(half.running(), "ended after one hour: {half:?}");

    tokio::time::sleep(Duration::from_secs(3_600 + 30)).await;
    // The end is written by the store's own thread, which paused time does not wait for: look
    // again (each look reads the store, so real time passes) until it has landed, and until
    // the lifecycle task, which reads the drills back after its write, has dropped it from the
    // running list (on PostgreSQL those reads take long enough to be seen in between).
    let read = || app.state.store.query(move |c| db::get(c, id));
    let mut end = read().await.unwrap().unwrap();
    for _ in 0..200 {
        if !end.running() && app.state.drills.running().is_empty() {
            break;
        }
        // Real time for the writer thread, without letting paused time run on meanwhile
        // (blocking work holds auto-advance back).
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(10)))
            .await
            .unwrap();
        end = read().await.unwrap().unwrap();
    }
    assert_eq!(end.end_reason.as_deref(), Some("planned_end"), "{end:?}");
    let ran = end.ended_at.unwrap() - end.started_at;
    assert!(
        ran >= chrono::Duration::hours(2)
            && ran < chrono::Duration::hours(2) + chrono::Duration::seconds(30),
        "the drill ran {ran} by the daemon's clock"
    );
    assert!(app.state.drills.running().is_empty());
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_heartbeat_goes_down_after_its_period_and_grace() {
    let _clock = commwatch::time::follow_tokio_clock();
    let dir = tempfile::tempdir().unwrap();
    let app = common::start_app(dir.path(), SITE).await;
    let t0 = commwatch::time::now_ms();
    let state = || app.state.board.get("ht-generator").unwrap().state.state;

    // Within period + grace (1 h 30 m) the silent site is not DOWN.
    tokio::time::sleep(Duration::from_secs(80 * 60)).await;
    assert_ne!(state(), State::Down);
    // Past it, two failed checks a minute apart take it DOWN.
    tokio::time::sleep(Duration::from_secs(15 * 60)).await;
    assert_eq!(state(), State::Down);
    // And the record says so in the daemon's own time: DOWN since after period + grace.
    let since = app.state.board.get("ht-generator").unwrap().state.since;
    let silent = since - t0;
    assert!(
        silent >= chrono::Duration::minutes(90) && silent < chrono::Duration::minutes(95),
        "DOWN {silent} after the start"
    );
    app.shutdown().await;
}

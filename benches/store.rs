//! Store benchmark: write throughput in batched transactions, the time to answer 30-day
//! availability for 20,000 targets from rollups, and database size per target per day.
//!
//! `cargo bench --bench store` (add `-- --quick` for a smaller run). Prints a Markdown table.

// A benchmark unwraps: a panic is how it reports a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use commwatch::state::TargetState;
use commwatch::store::{Retention, SampleRow, Store};

fn sample(at: DateTime<Utc>, i: u64) -> SampleRow {
    let ok = !i.is_multiple_of(37);
    SampleRow {
        at,
        ok,
        degraded: false,
        latency: Duration::from_micros(8_000 + (i * 7919) % 40_000),
        error: (!ok).then_some(commwatch::probe::ErrorCode::Timeout),
        detail: None,
        loss: None,
        drill: None,
    }
}

/// Samples per second through `Store::record` until committed.
async fn write_throughput(
    dir: &std::path::Path,
    targets: usize,
    rounds: usize,
) -> (f64, u64, Sizes) {
    let path = dir.join("write.db");
    let (store, writer) = Store::open(&path, Retention::default()).unwrap();
    let ids: Vec<Arc<str>> = (0..targets)
        .map(|i| Arc::from(format!("ht-target-{i:05}")))
        .collect();
    let start_at = Utc::now() - chrono::Duration::days(1);
    let started = Instant::now();
    let mut n = 0u64;
    for round in 0..rounds {
        // One round = every target probed once, 60 s apart: a day of samples at 60 s intervals
        // when rounds = 1440.
        let at = start_at + chrono::Duration::seconds(60 * round as i64);
        for id in &ids {
            store
                .record(id.clone(), sample(at, n), TargetState::new(at))
                .await
                .unwrap();
            n += 1;
        }
    }
    store.flush().await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    drop(store);
    writer.join().await;
    (n as f64 / secs, n, component_sizes(&path))
}

/// Bytes used by raw samples, minute rollups and hour+day rollups (plus state), measured by
/// dropping each part in turn and vacuuming.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    total: u64,
    raw: u64,
    minute: u64,
    rest: u64,
}

fn component_sizes(path: &std::path::Path) -> Sizes {
    let conn = rusqlite::Connection::open(path).unwrap();
    let size = |c: &rusqlite::Connection| {
        c.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        std::fs::metadata(path).unwrap().len()
    };
    let total = size(&conn);
    conn.execute_batch("DELETE FROM samples;").unwrap();
    let without_raw = size(&conn);
    conn.execute_batch("DELETE FROM rollup_minute;").unwrap();
    let rest = size(&conn);
    Sizes {
        total,
        raw: total - without_raw,
        minute: without_raw - rest,
        rest,
    }
}

/// Builds 30 days of rollups for `targets` targets directly in SQL (what 30 days of probing
/// would leave behind in the buckets a 30-day query reads), then times the query.
async fn availability_30d(dir: &std::path::Path, targets: usize) -> (f64, f64, usize) {
    let path = dir.join("avail.db");
    let (store, writer) = Store::open(&path, Retention::default()).unwrap();
    // Register target ids through the normal path.
    let now = Utc::now();
    let ids: Vec<String> = (0..targets).map(|i| format!("ht-target-{i:05}")).collect();
    for id in &ids {
        store
            .record(
                Arc::from(id.as_str()),
                sample(now, 1),
                TargetState::new(now),
            )
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    let from = now - chrono::Duration::days(30);
    store.seed_rollups(Vec::new(), from, now).await.unwrap();
    drop(store);
    writer.join().await;

    let (store, writer) = Store::open(&path, Retention::default()).unwrap();
    let mut per_target = Vec::new();
    let mut group = Vec::new();
    let mut answered = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let all = store.availability(None, from, now).await.unwrap();
        per_target.push(t.elapsed().as_secs_f64());
        answered = all.len();
        let t = Instant::now();
        store
            .group_availability(ids.clone(), from, now)
            .await
            .unwrap();
        group.push(t.elapsed().as_secs_f64());
    }
    drop(store);
    writer.join().await;
    (median(&mut per_target), median(&mut group), answered)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().unwrap();
    let (w_targets, w_rounds) = if quick { (1_000, 60) } else { (1_000, 1_440) };
    let (rate, n, size) = write_throughput(dir.path(), w_targets, w_rounds).await;
    let days = w_rounds as f64 / 1_440.0;
    let per_day = |bytes: u64| bytes as f64 / w_targets as f64 / days;
    let a_targets = if quick { 2_000 } else { 20_000 };
    let (t_all, t_group, answered) = availability_30d(dir.path(), a_targets).await;

    let kib = |b: f64| b / 1024.0;
    // Steady state at the default retention: 14 days of raw samples, 90 days of minute
    // rollups, and a year of hour and day rollups (which are tiny).
    let steady =
        per_day(size.raw) * 14.0 + per_day(size.minute) * 90.0 + per_day(size.rest) * 365.0;
    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| store write throughput ({n} samples, {w_targets} targets, batched) | {rate:.0} samples/s |"
    );
    println!(
        "| database size per target per day at a 60 s interval | {:.1} KiB (raw {:.1}, minute rollups {:.1}, hour/day rollups and state {:.1}) |",
        kib(per_day(size.total)),
        kib(per_day(size.raw)),
        kib(per_day(size.minute)),
        kib(per_day(size.rest))
    );
    println!(
        "| steady state per target at default retention (14 d raw, 90 d minutes, 1 y hours/days) | {:.2} MiB |",
        steady / 1024.0 / 1024.0
    );
    println!(
        "| 30-day availability, every target separately ({answered} targets) | {:.0} ms |",
        t_all * 1e3
    );
    println!(
        "| 30-day availability, all {a_targets} targets as one group | {:.0} ms |",
        t_group * 1e3
    );
}

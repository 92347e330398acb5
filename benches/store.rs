//! Store benchmark, SQLite and PostgreSQL side by side in one run: write throughput through the
//! writer in batched transactions and its CPU cost (the daemon process, and the PostgreSQL
//! server's processes), a paced national drill (2,000 samples/s), the time to answer 30-day
//! availability from rollups, and database size per target per day (SQLite).
//!
//! `cargo bench --bench store` (add `-- --quick` for a smaller run). Prints a Markdown table.
//! The PostgreSQL column runs on a throwaway server on 127.0.0.1 started from Debian's binaries
//! (tests/common/postgres.rs); `-- --sqlite-only` leaves it out, `-- --avail-only` runs only the
//! 30-day reads (the other rows then read zero).

// A benchmark unwraps: a panic is how it reports a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The test support's throwaway server; the bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/common/postgres.rs"]
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use commwatch::state::TargetState;
use commwatch::store::{PgSettings, PgTls, Retention, SampleRow, Store, WriterHandle};

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

/// Which engine a scenario runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

/// Where one scenario's record lives; kept alive for as long as its store.
enum Place {
    Sqlite(std::path::PathBuf),
    Postgres(pg::TestDb),
}

impl Place {
    fn new(engine: Engine, dir: &std::path::Path, name: &str) -> Place {
        match engine {
            Engine::Sqlite => Place::Sqlite(dir.join(format!("{name}.db"))),
            // Off the runtime: the server helper's sync client starts a runtime of its own.
            Engine::Postgres => Place::Postgres(pg::off_runtime(|| pg::server().database(name))),
        }
    }

    fn open(&self) -> (Store, WriterHandle) {
        match self {
            Place::Sqlite(path) => Store::open(path, Retention::default()).unwrap(),
            Place::Postgres(db) => Store::open_postgres(
                &PgSettings {
                    url: db.url.clone(),
                    password: Some(db.password.clone()),
                    pool_size: 4,
                    connect_timeout: Duration::from_secs(5),
                    tls: PgTls::Disable,
                },
                Retention::default(),
            )
            .unwrap(),
        }
    }
}

/// CPU seconds used so far by this process (every thread: the writer, the runtime, the
/// senders), from getrusage.
fn process_cpu() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU seconds used so far by the PostgreSQL server: the postmaster, its live children, and
/// the children it has reaped (a backend that ended). Zero for SQLite (it runs in process).
fn server_cpu(engine: Engine) -> f64 {
    if engine == Engine::Sqlite {
        return 0.0;
    }
    let data_dir = pg::server()
        .socket_dir()
        .parent()
        .unwrap()
        .join("data")
        .display()
        .to_string();
    // SAFETY: sysconf only reads a constant.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let procs: Vec<(i32, i32, [u64; 4])> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = s.get(s.rfind(')')? + 2..)?;
            let f: Vec<&str> = rest.split(' ').collect();
            // After the name, numbered as in proc(5): ppid(4), utime(14), stime(15),
            // cutime(16), cstime(17).
            let n = |i: usize| f.get(i - 3)?.parse::<u64>().ok();
            Some((pid, n(4)? as i32, [n(14)?, n(15)?, n(16)?, n(17)?]))
        })
        .collect();
    let Some(postmaster) = procs.iter().find(|(pid, _, _)| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(&data_dir))
            .unwrap_or(false)
    }) else {
        return 0.0;
    };
    let mut ticks = postmaster.2.iter().sum::<u64>();
    for (_, ppid, t) in &procs {
        if *ppid == postmaster.0 {
            ticks += t[0] + t[1];
        }
    }
    ticks as f64 / tick
}

/// What a timed run cost.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    samples: u64,
    wall: f64,
    daemon_cpu: f64,
    server_cpu: f64,
}

impl Cost {
    fn rate(&self) -> f64 {
        self.samples as f64 / self.wall
    }
    fn daemon_ms_per_1k(&self) -> f64 {
        self.daemon_cpu * 1e3 / (self.samples as f64 / 1e3)
    }
    fn server_ms_per_1k(&self) -> f64 {
        self.server_cpu * 1e3 / (self.samples as f64 / 1e3)
    }
}

struct Meter {
    engine: Engine,
    started: Instant,
    cpu: f64,
    server: f64,
}

impl Meter {
    fn start(engine: Engine) -> Meter {
        Meter {
            engine,
            started: Instant::now(),
            cpu: process_cpu(),
            server: server_cpu(engine),
        }
    }
    fn stop(self, samples: u64) -> Cost {
        Cost {
            samples,
            wall: self.started.elapsed().as_secs_f64(),
            daemon_cpu: process_cpu() - self.cpu,
            server_cpu: server_cpu(self.engine) - self.server,
        }
    }
}

fn keys(prefix: &str, n: usize) -> Vec<Arc<str>> {
    (0..n)
        .map(|i| Arc::from(format!("{prefix}-{i:05}")))
        .collect()
}

/// Samples per second through `Store::record` until committed, as fast as the writer takes
/// them.
async fn write_throughput(place: &Place, engine: Engine, targets: usize, rounds: usize) -> Cost {
    let (store, writer) = place.open();
    let ids = keys("ht-target", targets);
    let start_at = Utc::now() - chrono::Duration::days(1);
    let meter = Meter::start(engine);
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
    let cost = meter.stop(n);
    drop(store);
    writer.join().await;
    cost
}

/// A national drill: `rate` samples/s offered for `secs` seconds, spread over `targets`
/// targets (each probed every targets/rate seconds), in 10 ms ticks. The targets are known to
/// the store beforehand, as they are in a daemon that has been running.
async fn national_drill(
    place: &Place,
    engine: Engine,
    targets: usize,
    rate: u64,
    secs: u64,
) -> Cost {
    let (store, writer) = place.open();
    let ids = keys("nd-target", targets);
    let t0 = Utc::now() - chrono::Duration::hours(1);
    for (i, id) in ids.iter().enumerate() {
        store
            .record(id.clone(), sample(t0, i as u64), TargetState::new(t0))
            .await
            .unwrap();
    }
    store.flush().await.unwrap();

    let per_tick = rate / 100;
    let total = rate * secs;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let meter = Meter::start(engine);
    let mut n = 0u64;
    while n < total {
        tick.tick().await;
        for _ in 0..per_tick {
            let k = n as usize % targets;
            let round = n / targets as u64;
            let at = t0
                + chrono::Duration::milliseconds(
                    1 + (round * targets as u64 * 1000 / rate) as i64 + k as i64,
                );
            store
                .record(ids[k].clone(), sample(at, n), TargetState::new(at))
                .await
                .unwrap();
            n += 1;
        }
    }
    store.flush().await.unwrap();
    let cost = meter.stop(n);
    drop(store);
    writer.join().await;
    cost
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

/// Median milliseconds of the 30-day queries.
#[derive(Debug, Clone, Copy, Default)]
struct Avail {
    one: f64,
    every: f64,
    group: f64,
    answered: usize,
}

/// Seeds 30 days of rollups for `targets` targets (`Store::seed_rollups`: the buckets 30 days
/// of probing would leave behind for a 30-day query), reopens the store, then times the
/// queries: one target, every target separately (the province view), all as one group.
async fn availability_30d(place: &Place, targets: usize) -> Avail {
    let (store, writer) = place.open();
    let now = Utc::now();
    let ids: Vec<String> = (0..targets).map(|i| format!("ht-target-{i:05}")).collect();
    // From the local midnight thirty days ago, as the pages' 30-day view reads it.
    let from = commwatch::store::view_start(now - chrono::Duration::days(30), now);
    store.seed_rollups(ids.clone(), from, now).await.unwrap();
    drop(store);
    writer.join().await;

    let (store, writer) = place.open();
    let (mut one, mut every, mut group) = (Vec::new(), Vec::new(), Vec::new());
    let mut answered = 0;
    let ms_since = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    for i in 0..5 {
        let t = Instant::now();
        let a = store
            .availability(Some(vec![ids[i * 7 % targets].clone()]), from, now)
            .await
            .unwrap();
        one.push(ms_since(t));
        assert_eq!(a.len(), 1);
        let t = Instant::now();
        let all = store.availability(None, from, now).await.unwrap();
        every.push(ms_since(t));
        answered = all.len();
        let t = Instant::now();
        store
            .group_availability(ids.clone(), from, now)
            .await
            .unwrap();
        group.push(ms_since(t));
    }
    drop(store);
    writer.join().await;
    Avail {
        one: median(&mut one),
        every: median(&mut every),
        group: median(&mut group),
        answered,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Everything measured on one engine.
struct Results {
    write: Cost,
    drill: Cost,
    avail: Avail,
    sizes: Option<Sizes>,
}

async fn run(engine: Engine, dir: &std::path::Path, quick: bool, avail_only: bool) -> Results {
    let (w_targets, w_rounds) = if quick { (1_000, 60) } else { (1_000, 1_440) };
    if avail_only {
        let a_targets = if quick { 2_000 } else { 20_000 };
        let place = Place::new(engine, dir, "bench_avail");
        return Results {
            write: Cost::default(),
            drill: Cost::default(),
            avail: availability_30d(&place, a_targets).await,
            sizes: None,
        };
    }
    let place = Place::new(engine, dir, "bench_write");
    let write = write_throughput(&place, engine, w_targets, w_rounds).await;
    let sizes = match &place {
        Place::Sqlite(path) => Some(component_sizes(path)),
        Place::Postgres(_) => None,
    };
    let drill_secs = if quick { 3 } else { 10 };
    let place = Place::new(engine, dir, "bench_drill");
    let drill = national_drill(&place, engine, DRILL_TARGETS, DRILL_RATE, drill_secs).await;
    let a_targets = if quick { 2_000 } else { 20_000 };
    let place = Place::new(engine, dir, "bench_avail");
    let avail = availability_30d(&place, a_targets).await;
    Results {
        write,
        drill,
        avail,
        sizes,
    }
}

/// The national drill: 2,000 samples/s over 20,000 targets (each every 10 s).
const DRILL_RATE: u64 = 2_000;
const DRILL_TARGETS: usize = 20_000;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sqlite_only = std::env::args().any(|a| a == "--sqlite-only");
    // Only the 30-day reads: what to run under a profiler.
    let avail_only = std::env::args().any(|a| a == "--avail-only");
    let dir = tempfile::tempdir().unwrap();
    let lite = run(Engine::Sqlite, dir.path(), quick, avail_only).await;
    let pg = if sqlite_only {
        None
    } else {
        Some(run(Engine::Postgres, dir.path(), quick, avail_only).await)
    };

    let both = |f: &dyn Fn(&Results) -> String| -> String {
        let p = pg.as_ref().map_or_else(|| "not run".to_string(), f);
        format!("{} | {}", f(&lite), p)
    };
    let w = &lite.write;
    let (w_targets, w_rounds) = if quick { (1_000, 60) } else { (1_000, 1_440) };
    println!("| measurement | SQLite | PostgreSQL |");
    println!("|---|---|---|");
    println!(
        "| store write throughput ({} samples, {w_targets} targets, batched) | {} |",
        w.samples,
        both(&|r| format!("{:.0} samples/s", r.write.rate()))
    );
    println!(
        "| daemon process CPU per 1,000 samples (getrusage, all threads) | {} |",
        both(&|r| format!("{:.1} ms", r.write.daemon_ms_per_1k()))
    );
    println!(
        "| database server CPU per 1,000 samples (/proc of its processes) | {} |",
        both(&|r| match r.sizes {
            Some(_) => "in process".to_string(),
            None => format!("{:.1} ms", r.write.server_ms_per_1k()),
        })
    );
    println!(
        "| national drill: {DRILL_RATE} samples/s offered for {:.0} s over {DRILL_TARGETS} targets — committed rate | {} |",
        lite.drill.samples as f64 / DRILL_RATE as f64,
        both(&|r| format!("{:.0} samples/s", r.drill.rate()))
    );
    println!(
        "| national drill: daemon CPU (process CPU s / wall s) | {} |",
        both(&|r| format!("{:.3} cores", r.drill.daemon_cpu / r.drill.wall))
    );
    println!(
        "| national drill: database server CPU | {} |",
        both(&|r| match r.sizes {
            Some(_) => "in process".to_string(),
            None => format!("{:.3} cores", r.drill.server_cpu / r.drill.wall),
        })
    );
    let a = lite.avail.answered;
    println!(
        "| 30-day availability, one target | {} |",
        both(&|r| format!("{:.1} ms", r.avail.one))
    );
    println!(
        "| 30-day availability, every target separately ({a} targets: the province view) | {} |",
        both(&|r| format!("{:.0} ms", r.avail.every))
    );
    println!(
        "| 30-day availability, all {a} targets as one group | {} |",
        both(&|r| format!("{:.0} ms", r.avail.group))
    );
    if let Some(size) = lite.sizes {
        let days = w_rounds as f64 / 1_440.0;
        let per_day = |bytes: u64| bytes as f64 / w_targets as f64 / days;
        let kib = |b: f64| b / 1024.0;
        // Steady state at the default retention: 14 days of raw samples, 90 days of minute
        // rollups, and a year of hour, day and week rollups (which are tiny).
        let steady =
            per_day(size.raw) * 14.0 + per_day(size.minute) * 90.0 + per_day(size.rest) * 365.0;
        println!(
            "| database size per target per day at a 60 s interval | {:.1} KiB (raw {:.1}, minute rollups {:.1}, hour, day and week rollups and state {:.1}) | not measured |",
            kib(per_day(size.total)),
            kib(per_day(size.raw)),
            kib(per_day(size.minute)),
            kib(per_day(size.rest))
        );
        println!(
            "| steady state per target at default retention (14 d raw, 90 d minutes, 1 y hours, days and weeks) | {:.2} MiB | not measured |",
            steady / 1024.0 / 1024.0
        );
    }
}

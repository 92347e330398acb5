//! The single writer. It owns the write connection and runs on its own thread so a slow disk
//! never stalls the async runtime; it batches rows into transactions (and a transaction's
//! samples, rollups and states into a few multi-row upserts), keeps rows in memory
//! (bounded) while the database cannot be written, and runs retention between batches.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::backend::WriteConn;
use super::rollup::Resolution;
use super::sql::{Sql, SqlError, Value, args};
use super::{IncidentWrite, Pruned, Retention, Row, SampleRow, StoreHealth, WriteOp, ms};
use crate::probe::ErrorCode;
use crate::state::{IncidentChange, TargetState};

/// Rows per transaction at most: large enough to amortise the commit, small enough that a
/// reader is never starved for long.
const MAX_BATCH: usize = 4_000;
/// How long the writer waits for more rows before committing a partial batch.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Rows kept in memory while the database cannot be written (disk full, locked): about an hour
/// of a province at drill intervals. Beyond it the oldest samples are dropped, never incidents.
const MAX_PENDING: usize = 500_000;
/// Pause between attempts while the database cannot be written.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Attempts at shutdown before giving up on an unwritable database, so exit is never blocked.
const SHUTDOWN_ATTEMPTS: u32 = 5;
/// How often retention runs.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// Rows deleted per target per pass: a day of one-minute samples. Bounded work, so a large
/// backlog of expired rows is cleared over several passes without a long pause.
const PRUNE_CHUNK: i64 = 1_440;

pub(super) struct Writer {
    conn: Box<dyn WriteConn>,
    ids: HashMap<Arc<str>, i64>,
    health: Arc<StoreHealth>,
    pending: VecDeque<Row>,
    retention: Retention,
    last_maintenance: Instant,
}

impl Writer {
    pub(super) fn new(
        conn: Box<dyn WriteConn>,
        health: Arc<StoreHealth>,
        retention: Retention,
    ) -> Self {
        Self {
            conn,
            ids: HashMap::new(),
            health,
            pending: VecDeque::new(),
            retention,
            last_maintenance: Instant::now(),
        }
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<WriteOp>) {
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        let mut open = true;
        let mut shutdown_attempts = 0;
        loop {
            if self.pending.is_empty() && waiters.is_empty() {
                if !open {
                    break;
                }
                // Idle: block until the next row arrives.
                match rx.blocking_recv() {
                    Some(op) => self.accept(op, &mut waiters),
                    None => break,
                }
            }
            // Gather more rows for up to BATCH_WINDOW. While the database is failing, drain
            // everything available without waiting so senders (and so probing) never block.
            let deadline = Instant::now() + BATCH_WINDOW;
            let failing = self.health.degraded.load(Ordering::Relaxed);
            while open {
                match rx.try_recv() {
                    Ok(op) => self.accept(op, &mut waiters),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        if failing
                            || !waiters.is_empty()
                            || self.pending.len() >= MAX_BATCH
                            || Instant::now() >= deadline
                        {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => open = false,
                }
            }

            while !self.pending.is_empty() {
                let started = Instant::now();
                match self.commit_chunk() {
                    Ok(n) => {
                        self.health
                            .last_commit_us
                            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                        self.health
                            .rows_written
                            .fetch_add(n as u64, Ordering::Relaxed);
                        if self.health.degraded.swap(false, Ordering::Relaxed) {
                            tracing::info!("store writable again; backlog drained");
                            *self
                                .health
                                .last_error
                                .lock()
                                .unwrap_or_else(|p| p.into_inner()) = None;
                        }
                    }
                    Err(e) => {
                        if !self.health.degraded.swap(true, Ordering::Relaxed) {
                            tracing::error!(error = %e, backlog = self.pending.len(), "store write failed; keeping results in memory and retrying");
                        }
                        self.health.write_failures.fetch_add(1, Ordering::Relaxed);
                        *self
                            .health
                            .last_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                        self.conn.recover();
                        break;
                    }
                }
            }
            self.health
                .backlog
                .store(self.pending.len(), Ordering::Relaxed);

            if self.pending.is_empty() {
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
                if self.last_maintenance.elapsed() >= MAINTENANCE_EVERY {
                    self.last_maintenance = Instant::now();
                    if let Err(e) = self.maintain(crate::time::now_ms()) {
                        tracing::warn!(error = %e, "store retention pass failed; will retry");
                    }
                }
            } else {
                if !open {
                    shutdown_attempts += 1;
                    if shutdown_attempts >= SHUTDOWN_ATTEMPTS {
                        tracing::error!(
                            lost = self.pending.len(),
                            "store unwritable at shutdown; giving up"
                        );
                        break;
                    }
                }
                std::thread::sleep(RETRY_PAUSE);
            }
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }

    fn accept(&mut self, op: WriteOp, waiters: &mut Vec<oneshot::Sender<()>>) {
        let row = match op {
            WriteOp::Flush(tx) => {
                waiters.push(tx);
                return;
            }
            WriteOp::Maintain { now, reply } => {
                // Only sent after a flush, so nothing is pending: safe to run right here.
                let _ = reply.send(self.maintain(now).map_err(|e| e.to_string()));
                return;
            }
            WriteOp::Row(row) => row,
        };
        self.health.queue_depth.fetch_sub(1, Ordering::Relaxed);
        self.pending.push_back(row);
        if self.pending.len() > MAX_PENDING {
            // Drop the oldest sample; incidents and states are small and must not be lost.
            if let Some(i) = self
                .pending
                .iter()
                .position(|r| matches!(r, Row::Change(c) if c.sample.is_some() && c.incident.is_none() && c.alerts.is_empty()))
            {
                self.pending.remove(i);
                self.health.rows_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn target_id(
        tx: &mut dyn Sql,
        ids: &mut HashMap<Arc<str>, i64>,
        key: &Arc<str>,
    ) -> Result<i64, SqlError> {
        if let Some(id) = ids.get(key) {
            return Ok(*id);
        }
        tx.execute(
            "INSERT INTO targets(key) VALUES (?1) ON CONFLICT (key) DO NOTHING",
            args![key],
        )?;
        let id: i64 = tx
            .query_one("SELECT id FROM targets WHERE key = ?1", args![key])?
            .get(0)?;
        ids.insert(key.clone(), id);
        Ok(id)
    }

    /// Writes up to MAX_BATCH rows in one transaction and removes them from the queue.
    fn commit_chunk(&mut self) -> Result<usize, SqlError> {
        let n = self.pending.len().min(MAX_BATCH);
        let (pending, ids) = (&self.pending, &mut self.ids);
        let r = self
            .conn
            .transaction(&mut |tx| write_rows(tx, ids, pending.iter().take(n)));
        match r {
            Ok(()) => {
                for row in self.pending.drain(..n) {
                    if let Row::Exec {
                        committed: Some(tx),
                        failed,
                        ..
                    } = row
                    {
                        let failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
                        let _ = tx.send(failed.map_or(Ok(()), Err));
                    }
                }
                Ok(n)
            }
            Err(e) => {
                // The transaction rolled back, so ids cached during it may not exist on disk.
                self.ids.clear();
                Err(e)
            }
        }
    }

    /// Retention: raw samples and minute rollups past their age, target by target (each delete
    /// is a range at the front of that target's rows in the primary key, so it touches only
    /// what expires), bounded per pass so a large backlog is cleared over several passes.
    fn maintain(&mut self, now: chrono::DateTime<chrono::Utc>) -> Result<Pruned, SqlError> {
        let raw_cutoff = ms(now) - self.retention.raw.as_millis() as i64;
        let minute_cutoff = ms(now) - self.retention.minute.as_millis() as i64;
        let mut pruned = Pruned::default();
        self.conn.transaction(&mut |tx| {
            pruned = Pruned::default();
            let ids: Vec<i64> = tx
                .query("SELECT id FROM targets", args![])?
                .iter()
                .map(|r| r.get(0))
                .collect::<Result<_, _>>()?;
            for id in ids {
                // LIMIT on DELETE is not compiled into SQLite by default; bound by time instead.
                pruned.samples += tx.execute(
                    "DELETE FROM samples WHERE target_id = ?1 AND at_ms IN
                       (SELECT at_ms FROM samples WHERE target_id = ?1 AND at_ms < ?2 ORDER BY at_ms LIMIT ?3)",
                    args![id, raw_cutoff, PRUNE_CHUNK],
                )? as usize;
                pruned.minute_buckets += tx.execute(
                    "DELETE FROM rollup_minute WHERE target_id = ?1 AND bucket_ms IN
                       (SELECT bucket_ms FROM rollup_minute WHERE target_id = ?1 AND bucket_ms < ?2
                        ORDER BY bucket_ms LIMIT ?3)",
                    args![id, minute_cutoff, PRUNE_CHUNK],
                )? as usize;
            }
            Ok(())
        })?;
        if pruned.samples > 0 || pruned.minute_buckets > 0 {
            tracing::debug!(
                samples = pruned.samples,
                minute_buckets = pruned.minute_buckets,
                "retention pass"
            );
        }
        Ok(pruned)
    }
}

fn write_rows<'a>(
    tx: &mut dyn Sql,
    ids: &mut HashMap<Arc<str>, i64>,
    rows: impl Iterator<Item = &'a Row>,
) -> Result<(), SqlError> {
    let mut batch = Batch::default();
    for row in rows {
        match row {
            Row::Change(c) => {
                let id = Writer::target_id(tx, ids, &c.target)?;
                // Incidents and alert events are rare and order-sensitive among themselves
                // (close, then open): written as they come. Nothing they touch is read or
                // written by the batched tables, so writing those later keeps the result.
                if let Some(i) = &c.incident {
                    write_incident(tx, id, i)?;
                }
                if let Some(s) = &c.sample {
                    batch.add_sample(id, s);
                }
                if let Some(st) = &c.state {
                    batch.states.insert(id, st);
                }
                for a in &c.alerts {
                    insert_alert_event(tx, a)?;
                }
            }
            Row::Exec { run, failed, .. } => {
                // Another module's statements may read what came before them: write it first.
                batch.flush(tx)?;
                tx.batch("SAVEPOINT exec")?;
                match run(tx) {
                    Ok(()) => tx.batch("RELEASE SAVEPOINT exec")?,
                    // The database itself is failing: fail the batch so it is retried whole.
                    Err(e) if e.is_storage_failure() => return Err(e),
                    Err(e) => {
                        tx.batch("ROLLBACK TO SAVEPOINT exec; RELEASE SAVEPOINT exec")?;
                        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    }
                }
            }
        }
    }
    batch.flush(tx)
}

/// Rows of consecutive changes, gathered so that each table gets a few multi-row statements
/// per transaction instead of one statement (on PostgreSQL, one round trip) per row. Keyed
/// and sorted by primary key: a multi-row PostgreSQL upsert must not name one key twice, and
/// sorted keys touch the index in order.
#[derive(Default)]
struct Batch<'a> {
    /// The last sample per (target, time) wins, as the per-row upsert's overwrite did.
    samples: BTreeMap<(i64, i64), &'a SampleRow>,
    /// Minute, hour, day and week rollups, per (target, bucket): every sample counts,
    /// duplicates included, exactly as one upsert per sample counted them.
    rollups: [BTreeMap<(i64, i64), Agg>; 4],
    /// The last state per target wins.
    states: BTreeMap<i64, &'a TargetState>,
}

/// Resolutions in the order of `Batch::rollups`.
const RESOLUTIONS: [Resolution; 4] = [
    Resolution::Minute,
    Resolution::Hour,
    Resolution::Day,
    Resolution::Week,
];

/// What a run of samples adds to one rollup bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Agg {
    count: i64,
    ok: i64,
    degraded: i64,
    latency_sum_us: i64,
    /// Over successful samples only; `None` when none succeeded (the column's NULL).
    latency_min_us: Option<i64>,
    latency_max_us: Option<i64>,
    loss_sum: f64,
    loss_count: i64,
}

impl Agg {
    fn of(s: &SampleRow) -> Self {
        let latency_us = latency_us(s);
        let ok_latency = s.ok.then_some(latency_us);
        Agg {
            count: 1,
            ok: i64::from(s.ok),
            degraded: i64::from(s.ok && s.degraded),
            latency_sum_us: ok_latency.unwrap_or(0),
            latency_min_us: ok_latency,
            latency_max_us: ok_latency,
            loss_sum: s.loss.unwrap_or(0.0),
            loss_count: i64::from(s.loss.is_some()),
        }
    }

    /// Folds a later sample in, with the same NULL rules as the upsert's CASE: a NULL side
    /// leaves the other.
    fn add(&mut self, o: &Agg) {
        fn pick(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(f(a, b)),
                (a, b) => a.or(b),
            }
        }
        self.count += o.count;
        self.ok += o.ok;
        self.degraded += o.degraded;
        self.latency_sum_us = self.latency_sum_us.saturating_add(o.latency_sum_us);
        self.latency_min_us = pick(self.latency_min_us, o.latency_min_us, i64::min);
        self.latency_max_us = pick(self.latency_max_us, o.latency_max_us, i64::max);
        self.loss_sum += o.loss_sum;
        self.loss_count += o.loss_count;
    }
}

fn latency_us(s: &SampleRow) -> i64 {
    s.latency.as_micros().min(i64::MAX as u128) as i64
}

impl<'a> Batch<'a> {
    fn add_sample(&mut self, id: i64, s: &'a SampleRow) {
        let at = ms(s.at);
        self.samples.insert((id, at), s);
        let agg = Agg::of(s);
        for (res, map) in RESOLUTIONS.iter().zip(self.rollups.iter_mut()) {
            map.entry((id, res.floor(at)))
                .and_modify(|a| a.add(&agg))
                .or_insert(agg);
        }
    }

    /// Writes everything gathered and empties the batch.
    fn flush(&mut self, tx: &mut dyn Sql) -> Result<(), SqlError> {
        if !self.samples.is_empty() {
            let rows: Vec<[Value; 8]> = std::mem::take(&mut self.samples)
                .into_iter()
                .map(|((id, at), s)| {
                    [
                        id.into(),
                        at.into(),
                        s.ok.into(),
                        s.degraded.into(),
                        latency_us(s).into(),
                        s.error.map(ErrorCode::as_str).into(),
                        (&s.detail).into(),
                        s.drill.into(),
                    ]
                })
                .collect();
            upsert_many(
                tx,
                "INSERT INTO samples(target_id, at_ms, ok, degraded, latency_us, error, detail, drill_id)",
                "ON CONFLICT (target_id, at_ms) DO UPDATE SET ok = excluded.ok, degraded = excluded.degraded,
                     latency_us = excluded.latency_us, error = excluded.error, detail = excluded.detail,
                     drill_id = excluded.drill_id",
                &rows,
            )?;
        }
        for (res, map) in RESOLUTIONS.iter().zip(self.rollups.iter_mut()) {
            if map.is_empty() {
                continue;
            }
            let rows: Vec<[Value; 10]> = std::mem::take(map)
                .into_iter()
                .map(|((id, bucket), a)| {
                    [
                        id.into(),
                        bucket.into(),
                        a.count.into(),
                        a.ok.into(),
                        a.degraded.into(),
                        a.latency_sum_us.into(),
                        a.latency_min_us.into(),
                        a.latency_max_us.into(),
                        a.loss_sum.into(),
                        a.loss_count.into(),
                    ]
                })
                .collect();
            // The two-argument min/max of SQLite is LEAST/GREATEST in PostgreSQL, so the
            // comparisons are spelled out as CASE, which both read.
            let tail = format!(
                "ON CONFLICT(target_id, bucket_ms) DO UPDATE SET
                    count = {t}.count + excluded.count,
                    ok = {t}.ok + excluded.ok,
                    degraded = {t}.degraded + excluded.degraded,
                    latency_sum_us = {t}.latency_sum_us + excluded.latency_sum_us,
                    latency_min_us = CASE WHEN excluded.latency_min_us IS NULL THEN {t}.latency_min_us
                                          WHEN {t}.latency_min_us IS NULL THEN excluded.latency_min_us
                                          WHEN excluded.latency_min_us < {t}.latency_min_us THEN excluded.latency_min_us
                                          ELSE {t}.latency_min_us END,
                    latency_max_us = CASE WHEN excluded.latency_max_us IS NULL THEN {t}.latency_max_us
                                          WHEN {t}.latency_max_us IS NULL THEN excluded.latency_max_us
                                          WHEN excluded.latency_max_us > {t}.latency_max_us THEN excluded.latency_max_us
                                          ELSE {t}.latency_max_us END,
                    loss_sum = {t}.loss_sum + excluded.loss_sum,
                    loss_count = {t}.loss_count + excluded.loss_count",
                t = res.table()
            );
            let head = format!(
                "INSERT INTO {}(target_id, bucket_ms, count, ok, degraded, latency_sum_us,
                                latency_min_us, latency_max_us, loss_sum, loss_count)",
                res.table()
            );
            upsert_many(tx, &head, &tail, &rows)?;
        }
        if !self.states.is_empty() {
            let rows = std::mem::take(&mut self.states)
                .into_iter()
                .map(|(id, st)| {
                    let data =
                        serde_json::to_string(st).map_err(|e| SqlError::Data(e.to_string()))?;
                    Ok([
                        id.into(),
                        st.state.as_str().into(),
                        ms(st.since).into(),
                        st.consecutive_ok.into(),
                        st.consecutive_fail.into(),
                        data.into(),
                    ])
                })
                .collect::<Result<Vec<[Value; 6]>, SqlError>>()?;
            upsert_many(
                tx,
                "INSERT INTO target_state(target_id, state, since_ms, consecutive_ok, consecutive_fail, data)",
                "ON CONFLICT(target_id) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms,
                     consecutive_ok = excluded.consecutive_ok, consecutive_fail = excluded.consecutive_fail,
                     data = excluded.data",
                &rows,
            )?;
        }
        Ok(())
    }
}

/// Rows per statement at most. Times the widest row (10 values) it stays far below both
/// engines' limits on parameters (SQLite 32,766, PostgreSQL 65,535), and a full batch of
/// MAX_BATCH samples is a handful of statements.
const MAX_ROWS_PER_STATEMENT: usize = 512;
// The widest row (a rollup, 10 values) times the cap stays under SQLite's 32,766 parameters.
const _: () = assert!(10 * MAX_ROWS_PER_STATEMENT < 32_766);

/// `head VALUES (...), (...) tail` for every row, in statements of power-of-two sizes (512, 256,
/// ..., 1), so that a table has at most ten distinct statement texts and each engine's statement
/// cache keeps them all parsed, instead of one new text per batch size.
fn upsert_many<const W: usize>(
    tx: &mut dyn Sql,
    head: &str,
    tail: &str,
    rows: &[[Value; W]],
) -> Result<(), SqlError> {
    let mut rest = rows;
    while !rest.is_empty() {
        let size = chunk_size(rest.len());
        let (chunk, more) = rest.split_at(size);
        let sql = values_statement(head, tail, W, size);
        let args: Vec<Value> = chunk.iter().flat_map(|r| r.iter().cloned()).collect();
        tx.execute(&sql, &args)?;
        rest = more;
    }
    Ok(())
}

/// The largest power of two at most `n` (and at most MAX_ROWS_PER_STATEMENT); `n` > 0.
fn chunk_size(n: usize) -> usize {
    let n = n.min(MAX_ROWS_PER_STATEMENT);
    1 << (usize::BITS - 1 - n.leading_zeros())
}

fn values_statement(head: &str, tail: &str, width: usize, rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * width * 7 + 16);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            // Writing to a String cannot fail.
            let _ = write!(sql, "?{}", r * width + c + 1);
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

fn insert_alert_event(tx: &mut dyn Sql, a: &super::AlertEventRow) -> Result<(), SqlError> {
    tx.execute(
        "INSERT INTO alert_events(target, kind, state, at_ms, started_at_ms, cause, explained_by, drill_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        args![
            &a.target,
            a.kind,
            a.state.as_str(),
            ms(a.at),
            a.started_at.map(ms),
            &a.cause,
            &a.explained_by,
            &a.drill_id
        ],
    )?;
    Ok(())
}

/// Ends a target's open incident at `?2`, never before its own start.
const CLOSE_OPEN: &str =
    "UPDATE incidents SET ended_at_ms = CASE WHEN ?2 < started_at_ms THEN started_at_ms ELSE ?2 END
     WHERE target_id = ?1 AND ended_at_ms IS NULL";

fn write_incident(tx: &mut dyn Sql, id: i64, w: &IncidentWrite) -> Result<(), SqlError> {
    let cause_error = w.cause_error.map(ErrorCode::as_str);
    match &w.change {
        IncidentChange::Opened {
            started_at,
            detected_at,
            state,
            explained_by,
        } => {
            // At most one open incident per target: close a stale one (left by a crash between
            // two commits) at the new one's start rather than fail the whole batch. Never before
            // its own start, whatever the wall clock did meanwhile.
            tx.execute(CLOSE_OPEN, args![id, ms(*started_at)])?;
            tx.execute(
                "INSERT INTO incidents(target_id, started_at_ms, detected_at_ms, first_state, worst_state,
                                       cause_error, cause_detail, explained_by, drill_id)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8)",
                args![
                    id,
                    ms(*started_at),
                    ms(*detected_at),
                    state.as_str(),
                    cause_error,
                    &w.cause_detail,
                    explained_by,
                    w.drill
                ],
            )?;
        }
        IncidentChange::Updated {
            worst,
            explained_by,
        } => {
            tx.execute(
                "UPDATE incidents SET worst_state = ?2, explained_by = ?3,
                        cause_error = coalesce(?4, cause_error), cause_detail = coalesce(?5, cause_detail)
                 WHERE target_id = ?1 AND ended_at_ms IS NULL",
                args![id, worst.as_str(), explained_by, cause_error, &w.cause_detail],
            )?;
        }
        IncidentChange::Closed { ended_at } => {
            // The state machine ends an incident after its start; a wall clock stepped back
            // between the two must still not store one ending before it began.
            tx.execute(CLOSE_OPEN, args![id, ms(*ended_at)])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_power_of_two_sizes_up_to_the_cap() {
        assert_eq!(chunk_size(1), 1);
        assert_eq!(chunk_size(3), 2);
        assert_eq!(chunk_size(511), 256);
        assert_eq!(chunk_size(512), 512);
        assert_eq!(chunk_size(4_000), MAX_ROWS_PER_STATEMENT);
        let sql = values_statement("INSERT INTO t(a, b)", "", 2, 2);
        assert_eq!(sql, "INSERT INTO t(a, b) VALUES (?1, ?2), (?3, ?4) ");
    }

    fn sample(ok: bool, latency_ms: u64, loss: Option<f64>) -> SampleRow {
        SampleRow {
            at: chrono::DateTime::<chrono::Utc>::default(),
            ok,
            degraded: ok,
            latency: Duration::from_millis(latency_ms),
            error: None,
            detail: None,
            loss,
            drill: None,
        }
    }

    #[test]
    fn aggregates_keep_null_latencies_of_failed_samples_out() {
        let mut a = Agg::of(&sample(false, 900, None));
        assert_eq!((a.latency_min_us, a.latency_max_us), (None, None));
        a.add(&Agg::of(&sample(true, 20, Some(0.5))));
        a.add(&Agg::of(&sample(true, 10, None)));
        a.add(&Agg::of(&sample(false, 1, Some(1.0))));
        assert_eq!(
            a,
            Agg {
                count: 4,
                ok: 2,
                degraded: 2,
                latency_sum_us: 30_000,
                latency_min_us: Some(10_000),
                latency_max_us: Some(20_000),
                loss_sum: 1.5,
                loss_count: 2,
            }
        );
    }
}

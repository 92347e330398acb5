//! `commwatch store copy`: moves a record from one store to another (an operations room's SQLite
//! file into the province's shared PostgreSQL, or back). Table by table in key order, in chunks
//! that each commit on their own, every row inserted only if absent: an interrupted copy is
//! simply run again and goes on from the last committed chunk. It ends by comparing row counts
//! and the 30-day availability of every target on both sides.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sql::{Engine, Row, Sql, SqlError, Value, args};
use super::{Availability, Store, StoreError, ms, queries};

/// Every table, parents before children, with its primary key (the copy's order and resume
/// point).
const TABLES: &[(&str, &[&str])] = &[
    ("targets", &["id"]),
    ("samples", &["target_id", "at_ms"]),
    ("target_state", &["target_id"]),
    ("incidents", &["id"]),
    ("rollup_minute", &["target_id", "bucket_ms"]),
    ("rollup_hour", &["target_id", "bucket_ms"]),
    ("rollup_day", &["target_id", "bucket_ms"]),
    ("rollup_week", &["target_id", "bucket_ms"]),
    ("alert_events", &["id"]),
    ("alert_groups", &["receiver", "group_key"]),
    ("outbox", &["id"]),
    ("silences", &["id"]),
    ("incident_acks", &["id"]),
    ("drills", &["id"]),
    ("drill_targets", &["drill_id", "target"]),
    ("drill_notes", &["id"]),
    ("heartbeats", &["target"]),
];

/// Tables whose `id` is generated: after the copy the destination's generator must continue
/// past the copied ids.
const GENERATED_IDS: &[&str] = &[
    "targets",
    "incidents",
    "alert_events",
    "outbox",
    "silences",
    "incident_acks",
    "drills",
    "drill_notes",
];

/// Rows per chunk: one statement and one commit each. 400 rows of the widest table (13
/// columns) stay well under both engines' limits on statement arguments.
const CHUNK: usize = 400;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableCopy {
    pub table: &'static str,
    /// Rows in the source.
    pub source: u64,
    /// Rows this run inserted (rows already present are skipped).
    pub inserted: u64,
    /// Rows in the destination afterwards.
    pub destination: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub tables: Vec<TableCopy>,
    /// Targets whose 30-day availability was compared.
    pub targets_compared: usize,
    /// Every difference found by the verification (empty when both sides agree).
    pub mismatches: Vec<String>,
}

impl CopyReport {
    pub fn verified(&self) -> bool {
        self.mismatches.is_empty()
    }
}

async fn columns(store: &Store, table: &'static str) -> Result<Vec<String>, StoreError> {
    store
        .query(move |c| {
            let rows = match c.engine() {
                Engine::Sqlite => {
                    c.query("SELECT name FROM pragma_table_info(?1)", args![table])?
                }
                Engine::Postgres => c.query(
                    "SELECT column_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = ?1
                     ORDER BY ordinal_position",
                    args![table],
                )?,
            };
            rows.iter().map(|r| r.get::<String>(0)).collect()
        })
        .await
}

async fn count(store: &Store, table: &'static str) -> Result<u64, StoreError> {
    store
        .query(move |c| {
            c.query_one(&format!("SELECT count(*) FROM {table}"), args![])?
                .get::<u64>(0)
        })
        .await
}

/// The last key the destination holds, in the copy's order: where an interrupted copy resumes.
async fn last_key(
    store: &Store,
    table: &'static str,
    key: &'static [&'static str],
) -> Result<Option<Vec<Value>>, StoreError> {
    let order = key
        .iter()
        .map(|k| format!("{k} DESC"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {} FROM {table} ORDER BY {order} LIMIT 1",
        key.join(", ")
    );
    store
        .query(move |c| Ok(c.query_opt(&sql, args![])?.map(|r| r.0)))
        .await
}

/// Copies every table of `from` into `to` and verifies the result over the 30 days before
/// `now`. `progress` hears each table as it finishes.
pub async fn copy(
    from: &Store,
    to: &Store,
    now: DateTime<Utc>,
    mut progress: impl FnMut(&TableCopy),
) -> Result<CopyReport, StoreError> {
    from.flush().await?;
    same_record(from, to).await?;
    let mut tables = Vec::new();
    for &(table, key) in TABLES {
        let source_cols = columns(from, table).await?;
        let dest_cols = columns(to, table).await?;
        // Columns both sides know, in the source's order (the schemas are the same version,
        // so this is every column; the intersection only guards against a hand-made table).
        let cols: Vec<String> = source_cols
            .into_iter()
            .filter(|c| dest_cols.contains(c))
            .collect();
        let mut inserted = copy_table(from, to, table, key, &cols, true).await?;
        // The resume point assumes the source only grew after it; when the counts say
        // otherwise (rows added below it while a daemon still wrote to the source), a full
        // pass fills the gaps. Inserts skip rows already present, so this is safe.
        if count(to, table).await? < count(from, table).await? {
            inserted += copy_table(from, to, table, key, &cols, false).await?;
        }
        // The destination's id generator continues past the copied ids as soon as the table is
        // copied, not only at the end: a copy interrupted after it leaves a store that takes
        // new rows without key clashes.
        if to.engine() == Engine::Postgres && GENERATED_IDS.contains(&table) {
            to.write(move |tx| {
                tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                       (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                    ),
                    args![],
                )
                .map(|_| ())
            })
            .await?;
        }
        let t = TableCopy {
            table,
            source: count(from, table).await?,
            inserted,
            destination: count(to, table).await?,
        };
        progress(&t);
        tables.push(t);
    }
    let mut mismatches: Vec<String> = tables
        .iter()
        .filter(|t| t.destination != t.source)
        .map(|t| {
            format!(
                "{}: {} rows in the source, {} in the destination",
                t.table, t.source, t.destination
            )
        })
        .collect();
    let (start, end) = (ms(now - chrono::Duration::days(30)), ms(now));
    let a = availability(from, start, end).await?;
    let b = availability(to, start, end).await?;
    for (target, av) in &a {
        match b.get(target) {
            Some(bv) => {
                if let Some(what) = differs(av, bv) {
                    mismatches.push(format!("{target}: 30-day {what}"));
                }
            }
            None => mismatches.push(format!("{target}: missing from the destination")),
        }
    }
    Ok(CopyReport {
        tables,
        targets_compared: a.len(),
        mismatches,
    })
}

/// The fields of two availabilities that differ, said for people. Counts must be equal; sums
/// of reals may differ in their last bits (SQLite sums them compensated, PostgreSQL plainly).
fn differs(a: &Availability, b: &Availability) -> Option<String> {
    let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        (x, y) => x.is_none() && y.is_none(),
    };
    let mut out = Vec::new();
    for (name, x, y) in [
        ("count", a.count, b.count),
        ("ok", a.ok, b.ok),
        ("degraded", a.degraded, b.degraded),
    ] {
        if x != y {
            out.push(format!("{name} {x} in the source, {y} in the destination"));
        }
    }
    for (name, x, y) in [
        ("latency_avg", a.latency_avg_seconds, b.latency_avg_seconds),
        ("latency_min", a.latency_min_seconds, b.latency_min_seconds),
        ("latency_max", a.latency_max_seconds, b.latency_max_seconds),
        ("loss_avg", a.loss_avg, b.loss_avg),
    ] {
        if !close(x, y) {
            out.push(format!(
                "{name} {x:?} in the source, {y:?} in the destination"
            ));
        }
    }
    (!out.is_empty()).then(|| out.join(", "))
}

/// Refuses a destination that holds another record: a target id that names another target
/// there would file the source's history under the wrong target. A destination that is empty,
/// or an earlier, interrupted copy of this same source, is fine.
async fn same_record(from: &Store, to: &Store) -> Result<(), StoreError> {
    let source = target_keys(from).await?;
    let dest = target_keys(to).await?;
    for (id, key) in &dest {
        match source.get(id) {
            Some(k) if k == key => {}
            _ => {
                return Err(StoreError::Refused(format!(
                    "the destination already holds another record (its target {key} is not the \
                     source's target {id}); copy into an empty database"
                )));
            }
        }
    }
    Ok(())
}

async fn target_keys(s: &Store) -> Result<std::collections::HashMap<i64, String>, StoreError> {
    s.query(|c| {
        c.query("SELECT id, key FROM targets", args![])?
            .iter()
            .map(|r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)))
            .collect()
    })
    .await
}

async fn availability(
    store: &Store,
    from: i64,
    to: i64,
) -> Result<std::collections::HashMap<String, Availability>, StoreError> {
    store
        .query(move |c| queries::availability_by_target(c, None, from, to))
        .await
}

/// Copies one table in key order; `resume` starts after the destination's last key.
async fn copy_table(
    from: &Store,
    to: &Store,
    table: &'static str,
    key: &'static [&'static str],
    cols: &[String],
    resume: bool,
) -> Result<u64, StoreError> {
    let mut after = if resume {
        last_key(to, table, key).await?
    } else {
        None
    };
    let key_idx: Vec<usize> = key
        .iter()
        .map(|k| cols.iter().position(|c| c == k))
        .collect::<Option<_>>()
        .ok_or_else(|| StoreError::Task(format!("table {table} lacks its key columns")))?;
    let list = cols.join(", ");
    let order = key.join(", ");
    let mut inserted = 0u64;
    loop {
        let page = {
            let (list, order) = (list.clone(), order.clone());
            let after = after.clone();
            from.query(move |c| read_page(c, table, &list, &order, after.as_deref()))
                .await?
        };
        let Some(last) = page.last() else { break };
        after = Some(key_idx.iter().map(|&i| last.0[i].clone()).collect());
        let n = page.len();
        let rows = Arc::new(page);
        let sql = Arc::new(insert_sql(table, cols, n));
        inserted += to
            .write(move |tx| {
                let args: Vec<Value> = rows.iter().flat_map(|r| r.0.iter().cloned()).collect();
                tx.execute(&sql, &args)
            })
            .await?;
        if n < CHUNK {
            break;
        }
    }
    Ok(inserted)
}

fn read_page(
    c: &mut dyn Sql,
    table: &str,
    list: &str,
    order: &str,
    after: Option<&[Value]>,
) -> Result<Vec<Row>, SqlError> {
    match after {
        None => c.query(
            &format!("SELECT {list} FROM {table} ORDER BY {order} LIMIT {CHUNK}"),
            args![],
        ),
        Some(key) => {
            // Row-value comparison: both engines order (a, b) > (x, y) lexicographically, which
            // is the primary key's order.
            let marks = (1..=key.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            c.query(
                &format!(
                    "SELECT {list} FROM {table} WHERE ({order}) > ({marks}) ORDER BY {order} LIMIT {CHUNK}"
                ),
                key,
            )
        }
    }
}

fn insert_sql(table: &str, cols: &[String], rows: usize) -> String {
    let w = cols.len();
    let values = (0..rows)
        .map(|r| {
            let marks = (1..=w)
                .map(|c| format!("?{}", r * w + c))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({marks})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({}) VALUES {values} ON CONFLICT DO NOTHING",
        cols.join(", ")
    )
}

//! The drill tables: statements run through the store's single writer (inside its
//! transactions) and on its read connection.

use super::{Drill, NewDrill, NewNote, Note};
use crate::store::sql::{Row, Sql, SqlError, args};
use crate::store::{from_ms, ms};

const DRILL_COLUMNS: &str =
    "d.id, d.name, d.scenario, d.scope, d.leaders, d.interval_ms, d.baseline_ms,
     d.planned_start_ms, d.planned_end_ms, d.started_at_ms, d.ended_at_ms, d.end_reason,
     d.started_by, d.stopped_by, d.schedule_key,
     (SELECT count(*) FROM drill_targets t WHERE t.drill_id = d.id)";

/// Adds a target to a drill's record; one it already holds stays as it is.
const INSERT_TARGET: &str = "INSERT INTO drill_targets(drill_id, target) VALUES (?1, ?2)
     ON CONFLICT (drill_id, target) DO NOTHING";

fn json_err(e: serde_json::Error) -> SqlError {
    SqlError::Data(e.to_string())
}

fn from_json<T: serde::de::DeserializeOwned>(idx: usize, s: &str) -> Result<T, SqlError> {
    serde_json::from_str(s).map_err(|e| SqlError::Data(format!("column {idx}: {e}")))
}

fn drill_row(r: &Row) -> Result<Drill, SqlError> {
    let scope: String = r.get(3)?;
    let leaders: String = r.get(4)?;
    Ok(Drill {
        id: r.get(0)?,
        name: r.get(1)?,
        scenario: r.get(2)?,
        scope: from_json(3, &scope)?,
        leaders: from_json(4, &leaders)?,
        interval_seconds: r.get::<Option<i64>>(5)?.map(|v| v as f64 / 1_000.0),
        baseline_seconds: r.get::<i64>(6)? as f64 / 1_000.0,
        planned_start: from_ms(r.get(7)?),
        planned_end: from_ms(r.get(8)?),
        started_at: from_ms(r.get(9)?),
        ended_at: r.get::<Option<i64>>(10)?.map(from_ms),
        end_reason: r.get(11)?,
        started_by: r.get(12)?,
        stopped_by: r.get(13)?,
        schedule_key: r.get(14)?,
        targets: r.get::<i64>(15)? as usize,
    })
}

/// Inserts a started drill and the targets it covers; returns its id.
pub fn insert(
    tx: &mut dyn Sql,
    d: &NewDrill,
    started_by: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    targets: &[String],
) -> Result<i64, SqlError> {
    let planned_start = d.planned_start.unwrap_or(started_at);
    let planned_end =
        planned_start + chrono::Duration::from_std(d.duration).unwrap_or(chrono::Duration::zero());
    let id: i64 = tx
        .query_one(
            "INSERT INTO drills(name, scenario, scope, leaders, interval_ms, baseline_ms, planned_start_ms,
                                planned_end_ms, started_at_ms, started_by, schedule_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             RETURNING id",
            args![
                &d.name,
                &d.scenario,
                serde_json::to_string(&d.scope.to_map()).map_err(json_err)?,
                serde_json::to_string(&d.leaders).map_err(json_err)?,
                d.interval.as_millis() as i64,
                d.baseline.as_millis() as i64,
                ms(planned_start),
                ms(planned_end),
                ms(started_at),
                started_by,
                &d.schedule_key,
            ],
        )?
        .get(0)?;
    add_targets(tx, id, targets)?;
    Ok(id)
}

/// Adds targets to a drill's scope record (a reload added them while it ran).
pub fn add_targets(tx: &mut dyn Sql, id: i64, targets: &[String]) -> Result<(), SqlError> {
    for t in targets {
        tx.execute(INSERT_TARGET, args![id, t])?;
    }
    Ok(())
}

/// Ends a running drill; false when it does not exist or already ended.
pub fn end(
    tx: &mut dyn Sql,
    id: i64,
    at: chrono::DateTime<chrono::Utc>,
    reason: &str,
    by: Option<&str>,
) -> Result<bool, SqlError> {
    let n = tx.execute(
        "UPDATE drills SET ended_at_ms = ?2, end_reason = ?3, stopped_by = ?4
         WHERE id = ?1 AND ended_at_ms IS NULL",
        args![id, ms(at), reason, by],
    )?;
    Ok(n == 1)
}

pub fn get(c: &mut dyn Sql, id: i64) -> Result<Option<Drill>, SqlError> {
    c.query_opt(
        &format!("SELECT {DRILL_COLUMNS} FROM drills d WHERE d.id = ?1"),
        args![id],
    )?
    .map(|r| drill_row(&r))
    .transpose()
}

/// Drills newest first; `running` filters on whether they have ended.
pub fn list(c: &mut dyn Sql, running: Option<bool>, limit: usize) -> Result<Vec<Drill>, SqlError> {
    let filter = match running {
        None => "",
        Some(true) => "WHERE d.ended_at_ms IS NULL",
        Some(false) => "WHERE d.ended_at_ms IS NOT NULL",
    };
    c.query(
        &format!(
            "SELECT {DRILL_COLUMNS} FROM drills d {filter} ORDER BY d.started_at_ms DESC, d.id DESC LIMIT ?1"
        ),
        args![limit as i64],
    )?
    .iter()
    .map(drill_row)
    .collect()
}

/// Whether a configured drill (by its schedule key) has ever started.
pub fn schedule_key_used(c: &mut dyn Sql, key: &str) -> Result<bool, SqlError> {
    Ok(
        c.query_opt("SELECT 1 FROM drills WHERE schedule_key = ?1", args![key])?
            .is_some(),
    )
}

/// The targets a drill covered when it started, in byte order of their ids.
pub fn targets(c: &mut dyn Sql, id: i64) -> Result<Vec<String>, SqlError> {
    let mut out = c
        .query(
            "SELECT target FROM drill_targets WHERE drill_id = ?1",
            args![id],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<Vec<String>, _>>()?;
    // Sorted here, not by ORDER BY: PostgreSQL orders text by the database's collation
    // (locale-aware), SQLite by bytes; Rust's order is SQLite's on both.
    out.sort();
    Ok(out)
}

pub fn insert_note(
    tx: &mut dyn Sql,
    drill_id: i64,
    n: &NewNote,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<i64, SqlError> {
    let expected = if n.expected_targets.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&n.expected_targets).map_err(json_err)?)
    };
    tx.query_one(
        "INSERT INTO drill_notes(drill_id, at_ms, author, text, expected_targets, expected_until_ms, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         RETURNING id",
        args![
            drill_id,
            ms(n.at),
            &n.author,
            &n.text,
            expected,
            n.expected_until.map(ms),
            ms(now)
        ],
    )?
    .get(0)
}

/// A drill's notes in time order.
pub fn notes(c: &mut dyn Sql, drill_id: i64) -> Result<Vec<Note>, SqlError> {
    c.query(
        "SELECT id, drill_id, at_ms, author, text, expected_targets, expected_until_ms, created_at_ms
         FROM drill_notes WHERE drill_id = ?1 ORDER BY at_ms, id",
        args![drill_id],
    )?
    .iter()
    .map(|r| {
        let expected: Option<String> = r.get(5)?;
        Ok(Note {
            id: r.get(0)?,
            drill_id: r.get(1)?,
            at: from_ms(r.get(2)?),
            author: r.get(3)?,
            text: r.get(4)?,
            expected_targets: match expected {
                Some(s) => from_json(5, &s)?,
                None => Vec::new(),
            },
            expected_until: r.get::<Option<i64>>(6)?.map(from_ms),
            created_at: from_ms(r.get(7)?),
        })
    })
    .collect()
}

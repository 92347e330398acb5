//! The drill tables: statements run through the store's single writer (inside its
//! transactions) and on its read connection.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Drill, NewDrill, NewNote, Note};
use crate::store::{from_ms, ms};

const DRILL_COLUMNS: &str =
    "d.id, d.name, d.scenario, d.scope, d.leaders, d.interval_ms, d.baseline_ms,
     d.planned_start_ms, d.planned_end_ms, d.started_at_ms, d.ended_at_ms, d.end_reason,
     d.started_by, d.stopped_by, d.schedule_key,
     (SELECT count(*) FROM drill_targets t WHERE t.drill_id = d.id)";

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn from_json<T: serde::de::DeserializeOwned>(idx: usize, s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

fn drill_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Drill> {
    let scope: String = r.get(3)?;
    let leaders: String = r.get(4)?;
    Ok(Drill {
        id: r.get(0)?,
        name: r.get(1)?,
        scenario: r.get(2)?,
        scope: from_json(3, &scope)?,
        leaders: from_json(4, &leaders)?,
        interval_seconds: r.get::<_, Option<i64>>(5)?.map(|v| v as f64 / 1_000.0),
        baseline_seconds: r.get::<_, i64>(6)? as f64 / 1_000.0,
        planned_start: from_ms(r.get(7)?),
        planned_end: from_ms(r.get(8)?),
        started_at: from_ms(r.get(9)?),
        ended_at: r.get::<_, Option<i64>>(10)?.map(from_ms),
        end_reason: r.get(11)?,
        started_by: r.get(12)?,
        stopped_by: r.get(13)?,
        schedule_key: r.get(14)?,
        targets: r.get::<_, i64>(15)? as usize,
    })
}

/// Inserts a started drill and the targets it covers; returns its id.
pub fn insert(
    tx: &Transaction<'_>,
    d: &NewDrill,
    started_by: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    targets: &[String],
) -> rusqlite::Result<i64> {
    let planned_start = d.planned_start.unwrap_or(started_at);
    let planned_end =
        planned_start + chrono::Duration::from_std(d.duration).unwrap_or(chrono::Duration::zero());
    tx.execute(
        "INSERT INTO drills(name, scenario, scope, leaders, interval_ms, baseline_ms, planned_start_ms,
                            planned_end_ms, started_at_ms, started_by, schedule_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            d.name,
            d.scenario,
            serde_json::to_string(&d.scope.to_map()).map_err(json_err)?,
            serde_json::to_string(&d.leaders).map_err(json_err)?,
            d.interval.as_millis() as i64,
            d.baseline.as_millis() as i64,
            ms(planned_start),
            ms(planned_end),
            ms(started_at),
            started_by,
            d.schedule_key,
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut stmt =
        tx.prepare_cached("INSERT OR IGNORE INTO drill_targets(drill_id, target) VALUES (?1, ?2)")?;
    for t in targets {
        stmt.execute(params![id, t])?;
    }
    Ok(id)
}

/// Adds targets to a drill's scope record (a reload added them while it ran).
pub fn add_targets(tx: &Transaction<'_>, id: i64, targets: &[String]) -> rusqlite::Result<()> {
    let mut stmt =
        tx.prepare_cached("INSERT OR IGNORE INTO drill_targets(drill_id, target) VALUES (?1, ?2)")?;
    for t in targets {
        stmt.execute(params![id, t])?;
    }
    Ok(())
}

/// Ends a running drill; false when it does not exist or already ended.
pub fn end(
    tx: &Transaction<'_>,
    id: i64,
    at: chrono::DateTime<chrono::Utc>,
    reason: &str,
    by: Option<&str>,
) -> rusqlite::Result<bool> {
    let n = tx.execute(
        "UPDATE drills SET ended_at_ms = ?2, end_reason = ?3, stopped_by = ?4
         WHERE id = ?1 AND ended_at_ms IS NULL",
        params![id, ms(at), reason, by],
    )?;
    Ok(n == 1)
}

pub fn get(c: &Connection, id: i64) -> rusqlite::Result<Option<Drill>> {
    c.prepare_cached(&format!(
        "SELECT {DRILL_COLUMNS} FROM drills d WHERE d.id = ?1"
    ))?
    .query_row([id], drill_row)
    .optional()
}

/// Drills newest first; `running` filters on whether they have ended.
pub fn list(c: &Connection, running: Option<bool>, limit: usize) -> rusqlite::Result<Vec<Drill>> {
    let filter = match running {
        None => "",
        Some(true) => "WHERE d.ended_at_ms IS NULL",
        Some(false) => "WHERE d.ended_at_ms IS NOT NULL",
    };
    let mut stmt = c.prepare(&format!(
        "SELECT {DRILL_COLUMNS} FROM drills d {filter} ORDER BY d.started_at_ms DESC, d.id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit as i64], drill_row)?;
    rows.collect()
}

/// Whether a configured drill (by its schedule key) has ever started.
pub fn schedule_key_used(c: &Connection, key: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM drills WHERE schedule_key = ?1")?
        .query_row([key], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

/// The targets a drill covered when it started.
pub fn targets(c: &Connection, id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        c.prepare_cached("SELECT target FROM drill_targets WHERE drill_id = ?1 ORDER BY target")?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    rows.collect()
}

pub fn insert_note(
    tx: &Transaction<'_>,
    drill_id: i64,
    n: &NewNote,
    now: chrono::DateTime<chrono::Utc>,
) -> rusqlite::Result<i64> {
    let expected = if n.expected_targets.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&n.expected_targets).map_err(json_err)?)
    };
    tx.execute(
        "INSERT INTO drill_notes(drill_id, at_ms, author, text, expected_targets, expected_until_ms, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            drill_id,
            ms(n.at),
            n.author,
            n.text,
            expected,
            n.expected_until.map(ms),
            ms(now)
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// A drill's notes in time order.
pub fn notes(c: &Connection, drill_id: i64) -> rusqlite::Result<Vec<Note>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, drill_id, at_ms, author, text, expected_targets, expected_until_ms, created_at_ms
         FROM drill_notes WHERE drill_id = ?1 ORDER BY at_ms, id",
    )?;
    let rows = stmt.query_map([drill_id], |r| {
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
            expected_until: r.get::<_, Option<i64>>(6)?.map(from_ms),
            created_at: from_ms(r.get(7)?),
        })
    })?;
    rows.collect()
}

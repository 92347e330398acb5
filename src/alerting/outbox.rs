//! SQL for alert events, grouping state and the outbox. Writes run inside the store's single
//! writer (`Store::write`), reads on its read connection.

use chrono::{DateTime, Utc};

use crate::store::{from_ms, ms};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::state::State;
use crate::store::{Store, StoreError};

/// An alert event waiting for the grouping stage.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub target: String,
    pub kind: String,
    pub state: State,
    pub at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub cause: Option<String>,
    pub explained_by: Option<String>,
    pub drill_id: Option<String>,
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub receiver: String,
    pub group_key: String,
    pub idempotency_key: String,
    pub notification: String,
    pub drill_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub receiver: String,
    pub group_key: String,
    pub idempotency_key: String,
    pub status: String,
    #[serde(skip)]
    pub notification: String,
    pub drill_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const OUTBOX_COLUMNS: &str =
    "id, receiver, group_key, idempotency_key, status, notification, drill_id, created_at_ms,
     attempts, next_attempt_at_ms, last_status, last_error, delivered_at_ms";

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        receiver: r.get(1)?,
        group_key: r.get(2)?,
        idempotency_key: r.get(3)?,
        status: r.get(4)?,
        notification: r.get(5)?,
        drill_id: r.get(6)?,
        created_at: from_ms(r.get(7)?),
        attempts: r.get(8)?,
        next_attempt_at: from_ms(r.get(9)?),
        last_status: r.get(10)?,
        last_error: r.get(11)?,
        delivered_at: r.get::<_, Option<i64>>(12)?.map(from_ms),
    })
}

pub fn unprocessed_events(c: &Connection, limit: usize) -> rusqlite::Result<Vec<EventRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, target, kind, state, at_ms, started_at_ms, cause, explained_by, drill_id
         FROM alert_events WHERE processed = 0 ORDER BY id LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(EventRow {
            id: r.get(0)?,
            target: r.get(1)?,
            kind: r.get(2)?,
            state: State::parse(&r.get::<_, String>(3)?).unwrap_or(State::Unknown),
            at: from_ms(r.get(4)?),
            started_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
            cause: r.get(6)?,
            explained_by: r.get(7)?,
            drill_id: r.get(8)?,
        })
    })?;
    rows.collect()
}

pub fn load_groups(c: &Connection) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut stmt = c.prepare("SELECT receiver, group_key, data FROM alert_groups")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// The grouping stage's output for one pass, committed together: events marked processed,
/// groups saved or dropped, messages queued. A crash before the commit redoes the pass.
#[derive(Debug, Default, Clone)]
pub struct GroupingCommit {
    pub processed: Vec<i64>,
    pub save_groups: Vec<(String, String, String)>,
    pub drop_groups: Vec<(String, String)>,
    pub messages: Vec<NewMessage>,
}

pub fn commit_grouping(tx: &Transaction<'_>, c: &GroupingCommit) -> rusqlite::Result<()> {
    let mut done = tx.prepare_cached("UPDATE alert_events SET processed = 1 WHERE id = ?1")?;
    for id in &c.processed {
        done.execute([id])?;
    }
    let mut save = tx.prepare_cached(
        "INSERT INTO alert_groups(receiver, group_key, data) VALUES (?1, ?2, ?3)
         ON CONFLICT(receiver, group_key) DO UPDATE SET data = excluded.data",
    )?;
    for (r, k, d) in &c.save_groups {
        save.execute(params![r, k, d])?;
    }
    let mut drop =
        tx.prepare_cached("DELETE FROM alert_groups WHERE receiver = ?1 AND group_key = ?2")?;
    for (r, k) in &c.drop_groups {
        drop.execute(params![r, k])?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO outbox(receiver, group_key, idempotency_key, status, notification, drill_id,
                                      created_at_ms, next_attempt_at_ms)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?6)",
    )?;
    for m in &c.messages {
        insert.execute(params![
            m.receiver,
            m.group_key,
            m.idempotency_key,
            m.notification,
            m.drill_id,
            ms(m.created_at)
        ])?;
    }
    Ok(())
}

/// Targets whose open incident someone acknowledged, with the latest acknowledger: reminders
/// stop for them and later messages say who took it.
pub fn acknowledged_open(
    c: &Connection,
) -> rusqlite::Result<std::collections::HashMap<String, String>> {
    let mut stmt = c.prepare_cached(
        "SELECT t.key, a.author FROM incident_acks a
         JOIN incidents i ON i.id = a.incident_id
         JOIN targets t ON t.id = i.target_id
         WHERE i.ended_at_ms IS NULL
         ORDER BY a.at_ms, a.id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    // Later rows overwrite earlier ones: the latest acknowledger wins.
    rows.collect()
}

/// The oldest pending message of a receiver: delivery is strictly in order per receiver.
pub fn head_pending(c: &Connection, receiver: &str) -> rusqlite::Result<Option<OutboxRow>> {
    c.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE receiver = ?1 AND status = 'pending' ORDER BY id LIMIT 1"
    ))?
    .query_row([receiver], outbox_row)
    .optional()
}

/// Outbox rows for the API and the page, newest first.
pub fn list(
    c: &Connection,
    status: Option<&str>,
    receiver: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<OutboxRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR receiver = ?2)
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![status, receiver, limit as i64], outbox_row)?;
    rows.collect()
}

/// Pending and dead-letter counts per receiver.
pub fn counts(c: &Connection) -> rusqlite::Result<Vec<(String, String, i64)>> {
    let mut stmt = c.prepare_cached(
        "SELECT receiver, status, count(*) FROM outbox WHERE status IN ('pending', 'dead') GROUP BY receiver, status",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// What one delivery attempt did.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered {
        status: u16,
        at: DateTime<Utc>,
    },
    Retry {
        status: Option<u16>,
        error: String,
        next: DateTime<Utc>,
    },
    Dead {
        status: Option<u16>,
        error: String,
    },
}

pub fn record_attempt(tx: &Transaction<'_>, id: i64, a: &Attempt) -> rusqlite::Result<()> {
    match a {
        Attempt::Delivered { status, at } => tx.execute(
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, last_status = ?2,
                    last_error = NULL, delivered_at_ms = ?3 WHERE id = ?1",
            params![id, status, ms(*at)],
        ),
        Attempt::Retry { status, error, next } => tx.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_status = ?2, last_error = ?3,
                    next_attempt_at_ms = ?4 WHERE id = ?1",
            params![id, status, error, ms(*next)],
        ),
        Attempt::Dead { status, error } => tx.execute(
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_status = ?2, last_error = ?3
             WHERE id = ?1",
            params![id, status, error],
        ),
    }
    .map(|_| ())
}

/// Puts a dead letter back in the queue (an officer fixed the receiver).
pub async fn retry_dead(store: &Store, id: i64) -> Result<bool, StoreError> {
    store
        .write(move |tx| {
            tx.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at_ms = ?2 WHERE id = ?1 AND status = 'dead'",
                params![id, ms(crate::time::now_ms())],
            )
            .map(|n| n > 0)
        })
        .await
}

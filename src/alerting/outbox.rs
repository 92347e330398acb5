//! SQL for alert events, grouping state and the outbox. Writes run inside the store's single
//! writer (`Store::write`), reads on its read connection.

use chrono::{DateTime, Utc};

use crate::store::{from_ms, ms};
use serde::Serialize;

use crate::state::State;
use crate::store::sql::{Row, Sql, SqlError, args};
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

/// An HTTP status read back from its BIGINT column (one that does not fit is a bad row).
fn status_column(r: &Row, i: usize) -> Result<Option<u16>, SqlError> {
    r.get::<Option<i64>>(i)?
        .map(|v| {
            u16::try_from(v).map_err(|_| SqlError::Column {
                index: i,
                message: format!("{v} is out of range for u16"),
            })
        })
        .transpose()
}

fn outbox_row(r: &Row) -> Result<OutboxRow, SqlError> {
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
        last_status: status_column(r, 10)?,
        last_error: r.get(11)?,
        delivered_at: r.get::<Option<i64>>(12)?.map(from_ms),
    })
}

pub fn unprocessed_events(c: &mut dyn Sql, limit: usize) -> Result<Vec<EventRow>, SqlError> {
    c.query(
        "SELECT id, target, kind, state, at_ms, started_at_ms, cause, explained_by, drill_id
         FROM alert_events WHERE processed = 0 ORDER BY id LIMIT ?1",
        args![limit],
    )?
    .iter()
    .map(|r| {
        Ok(EventRow {
            id: r.get(0)?,
            target: r.get(1)?,
            kind: r.get(2)?,
            state: State::parse(&r.get::<String>(3)?).unwrap_or(State::Unknown),
            at: from_ms(r.get(4)?),
            started_at: r.get::<Option<i64>>(5)?.map(from_ms),
            cause: r.get(6)?,
            explained_by: r.get(7)?,
            drill_id: r.get(8)?,
        })
    })
    .collect()
}

pub fn load_groups(c: &mut dyn Sql) -> Result<Vec<(String, String, String)>, SqlError> {
    c.query(
        "SELECT receiver, group_key, data FROM alert_groups",
        args![],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .collect()
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

pub fn commit_grouping(tx: &mut dyn Sql, c: &GroupingCommit) -> Result<(), SqlError> {
    for id in &c.processed {
        tx.execute(
            "UPDATE alert_events SET processed = 1 WHERE id = ?1",
            args![id],
        )?;
    }
    for (r, k, d) in &c.save_groups {
        tx.execute(
            "INSERT INTO alert_groups(receiver, group_key, data) VALUES (?1, ?2, ?3)
             ON CONFLICT(receiver, group_key) DO UPDATE SET data = excluded.data",
            args![r, k, d],
        )?;
    }
    for (r, k) in &c.drop_groups {
        tx.execute(
            "DELETE FROM alert_groups WHERE receiver = ?1 AND group_key = ?2",
            args![r, k],
        )?;
    }
    for m in &c.messages {
        // A message already queued under its idempotency key (a pass redone after a crash)
        // is not queued twice.
        tx.execute(
            "INSERT INTO outbox(receiver, group_key, idempotency_key, status, notification, drill_id,
                                created_at_ms, next_attempt_at_ms)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?6)
             ON CONFLICT (idempotency_key) DO NOTHING",
            args![
                &m.receiver,
                &m.group_key,
                &m.idempotency_key,
                &m.notification,
                &m.drill_id,
                ms(m.created_at)
            ],
        )?;
    }
    Ok(())
}

/// Targets whose open incident someone acknowledged, with the latest acknowledger: reminders
/// stop for them and later messages say who took it.
pub fn acknowledged_open(
    c: &mut dyn Sql,
) -> Result<std::collections::HashMap<String, String>, SqlError> {
    // Later rows overwrite earlier ones: the latest acknowledger wins.
    c.query(
        "SELECT t.key, a.author FROM incident_acks a
         JOIN incidents i ON i.id = a.incident_id
         JOIN targets t ON t.id = i.target_id
         WHERE i.ended_at_ms IS NULL
         ORDER BY a.at_ms, a.id",
        args![],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

/// The oldest pending message of a receiver: delivery is strictly in order per receiver.
pub fn head_pending(c: &mut dyn Sql, receiver: &str) -> Result<Option<OutboxRow>, SqlError> {
    c.query_opt(
        &format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE receiver = ?1 AND status = 'pending' ORDER BY id LIMIT 1"
        ),
        args![receiver],
    )?
    .as_ref()
    .map(outbox_row)
    .transpose()
}

/// Outbox rows for the API and the page, newest first.
pub fn list(
    c: &mut dyn Sql,
    status: Option<&str>,
    receiver: Option<&str>,
    limit: usize,
) -> Result<Vec<OutboxRow>, SqlError> {
    // The casts give PostgreSQL the parameters' type where `IS NULL` alone would not.
    c.query(
        &format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
             WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1)
               AND (CAST(?2 AS TEXT) IS NULL OR receiver = ?2)
             ORDER BY id DESC LIMIT ?3"
        ),
        args![status, receiver, limit],
    )?
    .iter()
    .map(outbox_row)
    .collect()
}

/// Pending and dead-letter counts per receiver.
pub fn counts(c: &mut dyn Sql) -> Result<Vec<(String, String, i64)>, SqlError> {
    c.query(
        "SELECT receiver, status, count(*) FROM outbox WHERE status IN ('pending', 'dead') GROUP BY receiver, status",
        args![],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .collect()
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

pub fn record_attempt(tx: &mut dyn Sql, id: i64, a: &Attempt) -> Result<(), SqlError> {
    match a {
        Attempt::Delivered { status, at } => tx.execute(
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, last_status = ?2,
                    last_error = NULL, delivered_at_ms = ?3 WHERE id = ?1",
            args![id, u32::from(*status), ms(*at)],
        ),
        Attempt::Retry { status, error, next } => tx.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_status = ?2, last_error = ?3,
                    next_attempt_at_ms = ?4 WHERE id = ?1",
            args![id, status.map(u32::from), error, ms(*next)],
        ),
        Attempt::Dead { status, error } => tx.execute(
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_status = ?2, last_error = ?3
             WHERE id = ?1",
            args![id, status.map(u32::from), error],
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
                args![id, ms(crate::time::now_ms())],
            )
            .map(|n| n > 0)
        })
        .await
}

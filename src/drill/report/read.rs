//! What the drill report reads from the store: incidents, rollup edges, outbox messages,
//! worsenings and acknowledgements, each as one small query so the steps stay pure.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::alerting::model::Notification;
use crate::state::State;
use crate::store::rollup::Resolution;

/// An incident row as the report reads it.
#[derive(Debug, Clone)]
pub(super) struct Inc {
    pub(super) id: i64,
    pub(super) start: i64,
    pub(super) detected: i64,
    pub(super) end: Option<i64>,
    pub(super) first: State,
    pub(super) worst: State,
    pub(super) cause: Option<String>,
    pub(super) explained_by: Option<String>,
    pub(super) drill: Option<i64>,
}

impl Inc {
    pub(super) fn is_outage(&self) -> bool {
        matches!(self.worst, State::Down | State::Unreachable)
    }

    /// Milliseconds of this incident inside `[from, to)`; open incidents run to `to`.
    pub(super) fn overlap(&self, from: i64, to: i64) -> i64 {
        let end = self.end.unwrap_or(i64::MAX).min(to);
        (end - self.start.max(from)).max(0)
    }

    pub(super) fn overlaps(&self, from: i64, to: i64) -> bool {
        self.start < to && self.end.is_none_or(|e| e > from)
    }

    pub(super) fn contains(&self, t: i64) -> bool {
        self.start <= t && self.end.is_none_or(|e| t <= e)
    }
}

fn state_of(s: String) -> State {
    State::parse(&s).unwrap_or(State::Down)
}

/// The store's numeric id of every target it has seen, by configured id.
pub(super) fn store_ids(c: &Connection) -> rusqlite::Result<HashMap<String, i64>> {
    let mut stmt = c.prepare("SELECT key, id FROM targets")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Incidents of one target overlapping `[from, to)`, oldest first.
pub(super) fn incidents(
    c: &Connection,
    target_id: i64,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<Inc>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, started_at_ms, detected_at_ms, ended_at_ms, first_state, worst_state,
                cause_error, cause_detail, explained_by, drill_id
         FROM incidents WHERE target_id = ?1 AND started_at_ms < ?3
             AND (ended_at_ms IS NULL OR ended_at_ms > ?2)
         ORDER BY started_at_ms, id",
    )?;
    let rows = stmt.query_map(params![target_id, from, to], |r| {
        let error: Option<String> = r.get(6)?;
        let detail: Option<String> = r.get(7)?;
        Ok(Inc {
            id: r.get(0)?,
            start: r.get(1)?,
            detected: r.get(2)?,
            end: r.get(3)?,
            first: state_of(r.get(4)?),
            worst: state_of(r.get(5)?),
            cause: detail.or(error),
            explained_by: r.get(8)?,
            drill: r.get(9)?,
        })
    })?;
    rows.collect()
}

/// Start of the first rollup bucket with data for a target in `[from, to)`: minute rollups,
/// then hour rollups where minute ones were pruned.
pub(super) fn first_data(
    c: &Connection,
    target_id: i64,
    from: i64,
    to: i64,
) -> rusqlite::Result<Option<i64>> {
    for res in [Resolution::Minute, Resolution::Hour] {
        let sql = format!(
            "SELECT bucket_ms FROM {} WHERE target_id = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3
             ORDER BY bucket_ms LIMIT 1",
            res.table()
        );
        let found: Option<i64> = c
            .prepare_cached(&sql)?
            .query_row(params![target_id, res.floor(from), to], |r| r.get(0))
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Whether the store holds a raw sample of the target in `[from, to)` (an index seek).
pub(super) fn any_sample(
    c: &Connection,
    target_id: i64,
    from: i64,
    to: i64,
) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT 1 FROM samples WHERE target_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 LIMIT 1",
    )?
    .query_row(params![target_id, from, to], |_| Ok(()))
    .optional()
    .map(|r| r.is_some())
}

/// One outbox message, parsed.
pub(super) struct Message {
    pub(super) id: i64,
    pub(super) receiver: String,
    pub(super) status: String,
    pub(super) created: i64,
    pub(super) delivered: Option<i64>,
    pub(super) attempts: u32,
    pub(super) n: Notification,
}

/// Outbox messages created in `[from, to)`, oldest first.
pub(super) fn messages(c: &Connection, from: i64, to: i64) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, receiver, status, created_at_ms, delivered_at_ms, attempts, notification
         FROM outbox WHERE created_at_ms >= ?1 AND created_at_ms < ?2 ORDER BY created_at_ms, id",
    )?;
    let rows = stmt.query_map(params![from, to], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, u32>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, receiver, status, created, delivered, attempts, json) = row?;
        // A message this commwatch cannot read back (written by a different version) is left
        // out of the report rather than failing it.
        let Ok(n) = serde_json::from_str::<Notification>(&json) else {
            tracing::warn!(
                outbox = id,
                "drill report skips an unreadable outbox message"
            );
            continue;
        };
        out.push(Message {
            id,
            receiver,
            status,
            created,
            delivered,
            attempts,
            n,
        });
    }
    Ok(out)
}

/// Worse states reached during incidents (alert events of kind `firing` without a start: an
/// update), for the timeline.
pub(super) fn worsenings(
    c: &Connection,
    drill_id: i64,
) -> rusqlite::Result<Vec<(String, State, i64)>> {
    let mut stmt = c.prepare_cached(
        "SELECT target, state, at_ms FROM alert_events
         WHERE drill_id = ?1 AND kind = 'firing' AND started_at_ms IS NULL ORDER BY at_ms, id",
    )?;
    let rows = stmt.query_map([drill_id.to_string()], |r| {
        Ok((r.get(0)?, state_of(r.get(1)?), r.get(2)?))
    })?;
    rows.collect()
}

/// The first acknowledgement of an incident: (at, author, comment).
pub(super) type Ack = (i64, String, String);

/// First acknowledgement of each incident.
pub(super) fn first_acks(c: &Connection, ids: &[i64]) -> rusqlite::Result<HashMap<i64, Ack>> {
    let mut out = HashMap::new();
    let mut stmt = c.prepare_cached(
        "SELECT at_ms, author, comment FROM incident_acks WHERE incident_id = ?1
         ORDER BY at_ms, id LIMIT 1",
    )?;
    for id in ids {
        if let Some(a) = stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
        {
            out.insert(*id, a);
        }
    }
    Ok(out)
}

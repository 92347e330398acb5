//! What the drill report reads from the store: incidents, rollup edges, outbox messages,
//! worsenings and acknowledgements, each as one small query so the steps stay pure.

use std::collections::HashMap;

use crate::alerting::model::Notification;
use crate::state::State;
use crate::store::rollup::Resolution;
use crate::store::sql::{Sql, SqlError, args};

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
pub(super) fn store_ids(c: &mut dyn Sql) -> Result<HashMap<String, i64>, SqlError> {
    c.query("SELECT key, id FROM targets", args![])?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect()
}

/// Incidents of one target overlapping `[from, to)`, oldest first.
pub(super) fn incidents(
    c: &mut dyn Sql,
    target_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<Inc>, SqlError> {
    c.query(
        "SELECT id, started_at_ms, detected_at_ms, ended_at_ms, first_state, worst_state,
                cause_error, cause_detail, explained_by, drill_id
         FROM incidents WHERE target_id = ?1 AND started_at_ms < ?3
             AND (ended_at_ms IS NULL OR ended_at_ms > ?2)
         ORDER BY started_at_ms, id",
        args![target_id, from, to],
    )?
    .iter()
    .map(|r| {
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
    })
    .collect()
}

/// Start of the first rollup bucket with data for a target in `[from, to)`: minute rollups,
/// then hour rollups where minute ones were pruned.
pub(super) fn first_data(
    c: &mut dyn Sql,
    target_id: i64,
    from: i64,
    to: i64,
) -> Result<Option<i64>, SqlError> {
    for res in [Resolution::Minute, Resolution::Hour] {
        let sql = format!(
            "SELECT bucket_ms FROM {} WHERE target_id = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3
             ORDER BY bucket_ms LIMIT 1",
            res.table()
        );
        let found: Option<i64> = c
            .query_opt(&sql, args![target_id, res.floor(from), to])?
            .map(|r| r.get(0))
            .transpose()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Whether the store holds a raw sample of the target in `[from, to)` (an index seek).
pub(super) fn any_sample(
    c: &mut dyn Sql,
    target_id: i64,
    from: i64,
    to: i64,
) -> Result<bool, SqlError> {
    Ok(c.query_opt(
        "SELECT 1 FROM samples WHERE target_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 LIMIT 1",
        args![target_id, from, to],
    )?
    .is_some())
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
pub(super) fn messages(c: &mut dyn Sql, from: i64, to: i64) -> Result<Vec<Message>, SqlError> {
    let rows = c.query(
        "SELECT id, receiver, status, created_at_ms, delivered_at_ms, attempts, notification
         FROM outbox WHERE created_at_ms >= ?1 AND created_at_ms < ?2 ORDER BY created_at_ms, id",
        args![from, to],
    )?;
    let mut out = Vec::new();
    for r in &rows {
        let id: i64 = r.get(0)?;
        let receiver: String = r.get(1)?;
        let status: String = r.get(2)?;
        let created: i64 = r.get(3)?;
        let delivered: Option<i64> = r.get(4)?;
        let attempts: u32 = r.get(5)?;
        let json: String = r.get(6)?;
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
    c: &mut dyn Sql,
    drill_id: i64,
) -> Result<Vec<(String, State, i64)>, SqlError> {
    // alert_events.drill_id is TEXT (the id as alerting carries it), so the id goes as text.
    c.query(
        "SELECT target, state, at_ms FROM alert_events
         WHERE drill_id = ?1 AND kind = 'firing' AND started_at_ms IS NULL ORDER BY at_ms, id",
        args![drill_id.to_string()],
    )?
    .iter()
    .map(|r| Ok((r.get(0)?, state_of(r.get(1)?), r.get(2)?)))
    .collect()
}

/// The first acknowledgement of an incident: (at, author, comment).
pub(super) type Ack = (i64, String, String);

/// First acknowledgement of each incident.
pub(super) fn first_acks(c: &mut dyn Sql, ids: &[i64]) -> Result<HashMap<i64, Ack>, SqlError> {
    let mut out = HashMap::new();
    for id in ids {
        if let Some(r) = c.query_opt(
            "SELECT at_ms, author, comment FROM incident_acks WHERE incident_id = ?1
             ORDER BY at_ms, id LIMIT 1",
            args![id],
        )? {
            out.insert(*id, (r.get(0)?, r.get(1)?, r.get(2)?));
        }
    }
    Ok(out)
}

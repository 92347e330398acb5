//! Incident acknowledgements: who took an incident, when, and what they said.
//!
//! Acknowledgements are written through the store's single writer, read on its read connection.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sql::args;
use super::{Store, StoreError, from_ms, ms};

/// One acknowledgement of an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ack {
    pub id: i64,
    pub incident_id: i64,
    /// The incident's target.
    pub target: String,
    /// The name of the token that acknowledged (from `[[auth.tokens]]`).
    pub author: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// What happened to an acknowledgement request.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    Recorded(Ack),
    NoSuchIncident,
    /// The incident has already ended; there is nothing left to take.
    Closed,
}

/// Longer comments are refused by the API; the store keeps whatever it is given.
pub const MAX_COMMENT_CHARS: usize = 2_000;

impl Store {
    /// Records that `author` acknowledged incident `incident_id` with `comment`.
    pub async fn ack_incident(
        &self,
        incident_id: i64,
        author: String,
        comment: String,
        at: DateTime<Utc>,
    ) -> Result<AckOutcome, StoreError> {
        // Through the single writer, like every other write: the check that the incident is
        // still open and the insert commit together.
        self.write_or_queue(move |tx| {
            let found: Option<(String, Option<i64>)> = match tx.query_opt(
                "SELECT t.key, i.ended_at_ms FROM incidents i JOIN targets t ON t.id = i.target_id
                 WHERE i.id = ?1",
                args![incident_id],
            )? {
                Some(r) => Some((r.get(0)?, r.get(1)?)),
                None => None,
            };
            Ok(match found {
                None => AckOutcome::NoSuchIncident,
                Some((_, Some(_))) => AckOutcome::Closed,
                Some((target, None)) => {
                    let id: i64 = tx
                        .query_one(
                            "INSERT INTO incident_acks (incident_id, author, comment, at_ms)
                             VALUES (?1, ?2, ?3, ?4) RETURNING id",
                            args![incident_id, &author, &comment, ms(at)],
                        )?
                        .get(0)?;
                    AckOutcome::Recorded(Ack {
                        id,
                        incident_id,
                        target,
                        author: author.clone(),
                        comment: comment.clone(),
                        at,
                    })
                }
            })
        })
        .await
    }

    /// Acknowledgements of the given incidents, oldest first, keyed by incident id.
    pub async fn acks_for(
        &self,
        incident_ids: Vec<i64>,
    ) -> Result<HashMap<i64, Vec<Ack>>, StoreError> {
        if incident_ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.read(move |c| {
            // Ids are integers, so inlining them is safe and keeps one statement for a page.
            let list = incident_ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let rows = c.query(
                &format!(
                    "SELECT a.id, a.incident_id, t.key, a.author, a.comment, a.at_ms
                     FROM incident_acks a JOIN incidents i ON i.id = a.incident_id
                     JOIN targets t ON t.id = i.target_id
                     WHERE a.incident_id IN ({list}) ORDER BY a.at_ms, a.id"
                ),
                args![],
            )?;
            let mut out: HashMap<i64, Vec<Ack>> = HashMap::new();
            for r in rows {
                let a = Ack {
                    id: r.get(0)?,
                    incident_id: r.get(1)?,
                    target: r.get(2)?,
                    author: r.get(3)?,
                    comment: r.get(4)?,
                    at: from_ms(r.get(5)?),
                };
                out.entry(a.incident_id).or_default().push(a);
            }
            Ok(out)
        })
        .await
    }
}

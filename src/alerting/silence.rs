//! Silences: an officer mutes notifications for matching targets for a while (a known fibre
//! repair, a planned power cut). Recording goes on; only messages stop.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::store::{from_ms, ms};
use serde::Serialize;

use crate::config::Target;
use crate::config::alerting::Matchers;
use crate::store::sql::{Row, Sql, SqlError, args};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub matchers: BTreeMap<String, String>,
    #[serde(skip)]
    pub parsed: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub author: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expired_by: Option<String>,
}

impl Silence {
    /// Whether the silence mutes this target at `now`.
    pub fn mutes(&self, t: &Target, now: DateTime<Utc>) -> bool {
        self.expired_by.is_none()
            && now >= self.starts_at
            && now < self.ends_at
            && self.parsed.matches(t)
    }
}

fn row(r: &Row) -> Result<Silence, SqlError> {
    let raw: String = r.get(1)?;
    let matchers: BTreeMap<String, String> = serde_json::from_str(&raw).unwrap_or_default();
    // Stored matchers were validated on creation; an unparsable one matches nothing.
    let parsed = Matchers::parse(&matchers).unwrap_or(Matchers(vec![(
        crate::config::alerting::LabelKey::Target,
        "\u{0}".into(),
    )]));
    Ok(Silence {
        id: r.get(0)?,
        matchers,
        parsed,
        starts_at: from_ms(r.get(2)?),
        ends_at: from_ms(r.get(3)?),
        author: r.get(4)?,
        reason: r.get(5)?,
        created_at: from_ms(r.get(6)?),
        expired_by: r.get(7)?,
    })
}

const COLUMNS: &str =
    "id, matchers, starts_at_ms, ends_at_ms, author, reason, created_at_ms, expired_by";

/// Silences in force at `now`.
pub fn active(c: &mut dyn Sql, now: DateTime<Utc>) -> Result<Vec<Silence>, SqlError> {
    c.query(
        &format!(
            "SELECT {COLUMNS} FROM silences WHERE expired_by IS NULL AND starts_at_ms <= ?1 AND ends_at_ms > ?1
             ORDER BY id"
        ),
        args![ms(now)],
    )?
    .iter()
    .map(row)
    .collect()
}

/// Every silence that has not ended, newest first (for the API and page).
pub fn current(c: &mut dyn Sql, now: DateTime<Utc>) -> Result<Vec<Silence>, SqlError> {
    c.query(
        &format!(
            "SELECT {COLUMNS} FROM silences WHERE expired_by IS NULL AND ends_at_ms > ?1 ORDER BY id DESC"
        ),
        args![ms(now)],
    )?
    .iter()
    .map(row)
    .collect()
}

pub struct NewSilence {
    pub matchers: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub author: String,
    pub reason: String,
}

pub fn insert(tx: &mut dyn Sql, s: &NewSilence) -> Result<i64, SqlError> {
    let matchers = serde_json::to_string(&s.matchers).map_err(|e| SqlError::Data(e.to_string()))?;
    tx.query_one(
        "INSERT INTO silences(matchers, starts_at_ms, ends_at_ms, author, reason, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        args![
            matchers,
            ms(s.starts_at),
            ms(s.ends_at),
            &s.author,
            &s.reason,
            ms(crate::time::now_ms())
        ],
    )?
    .get(0)
}

/// Ends a silence early; returns whether one was ended.
pub fn expire(tx: &mut dyn Sql, id: i64, by: &str) -> Result<bool, SqlError> {
    tx.execute(
        "UPDATE silences SET expired_by = ?2 WHERE id = ?1 AND expired_by IS NULL",
        args![id, by],
    )
    .map(|n| n > 0)
}

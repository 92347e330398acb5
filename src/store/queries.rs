//! Typed read queries: restored state, recent samples, incidents, and availability and latency
//! over any range from rollups.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rollup::{COARSE_AFTER_MS, Resolution, Segment, plan, plan_to_latest};
use super::sql::{Engine, Row, Sql, SqlError, Value, args};
use super::{Store, StoreError, from_ms, ms};
use crate::state::{State, TargetState};

/// A stored sample, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSample {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub degraded: bool,
    pub latency_seconds: f64,
    pub error: Option<String>,
    pub detail: Option<String>,
}

/// The engine's position for one target plus its last result, as restored at start.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredState {
    pub state: TargetState,
    pub last: Option<StoredSample>,
}

/// One incident row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRow {
    pub id: i64,
    pub target: String,
    pub started_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub open: bool,
    pub first_state: State,
    pub worst_state: State,
    pub cause_error: Option<String>,
    pub cause_detail: Option<String>,
    pub explained_by: Option<String>,
    /// Seconds from start to end (or to now while open).
    pub duration_seconds: f64,
}

/// Which incidents to list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// `Some(true)` open only, `Some(false)` closed only.
    pub open: Option<bool>,
    pub targets: Option<Vec<String>>,
    /// Incidents overlapping `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    pub offset: usize,
}

/// Counts and latency over a range, summed from rollups.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Availability {
    pub count: u64,
    pub ok: u64,
    pub degraded: u64,
    /// ok / count; `None` when there were no samples.
    pub ratio: Option<f64>,
    pub latency_avg_seconds: Option<f64>,
    pub latency_min_seconds: Option<f64>,
    pub latency_max_seconds: Option<f64>,
    pub loss_avg: Option<f64>,
}

/// Raw sums, before ratios are derived.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    count: i64,
    ok: i64,
    degraded: i64,
    lat_sum: i64,
    lat_min: Option<i64>,
    lat_max: Option<i64>,
    loss_sum: f64,
    loss_count: i64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.count += o.count;
        self.ok += o.ok;
        self.degraded += o.degraded;
        self.lat_sum += o.lat_sum;
        self.lat_min = match (self.lat_min, o.lat_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.lat_max = match (self.lat_max, o.lat_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.loss_sum += o.loss_sum;
        self.loss_count += o.loss_count;
    }

    fn finish(&self) -> Availability {
        Availability {
            count: self.count as u64,
            ok: self.ok as u64,
            degraded: self.degraded as u64,
            ratio: (self.count > 0).then(|| self.ok as f64 / self.count as f64),
            latency_avg_seconds: (self.ok > 0).then(|| self.lat_sum as f64 / self.ok as f64 / 1e6),
            latency_min_seconds: self.lat_min.map(|v| v as f64 / 1e6),
            latency_max_seconds: self.lat_max.map(|v| v as f64 / 1e6),
            loss_avg: (self.loss_count > 0).then(|| self.loss_sum / self.loss_count as f64),
        }
    }
}

/// One rollup bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub availability: Availability,
}

const SUM_COLUMNS: &str = "sum(count), sum(ok), sum(degraded), sum(latency_sum_us), min(latency_min_us), max(latency_max_us), sum(loss_sum), sum(loss_count)";

fn sums_from(r: &Row, first: usize) -> Result<Sums, SqlError> {
    Ok(Sums {
        count: r.get::<Option<i64>>(first)?.unwrap_or(0),
        ok: r.get::<Option<i64>>(first + 1)?.unwrap_or(0),
        degraded: r.get::<Option<i64>>(first + 2)?.unwrap_or(0),
        lat_sum: r.get::<Option<i64>>(first + 3)?.unwrap_or(0),
        lat_min: r.get(first + 4)?,
        lat_max: r.get(first + 5)?,
        loss_sum: r.get::<Option<f64>>(first + 6)?.unwrap_or(0.0),
        loss_count: r.get::<Option<i64>>(first + 7)?.unwrap_or(0),
    })
}

/// A range ending less than this before the read is read as ending now: the probes of at most
/// that last minute may be counted past its end, under 0.04 % of the two days and more such a
/// read covers.
const OPEN_END_MS: i64 = 60_000;

/// The rollup segments covering `[from, to)` for the targets `ids` (`None`: every target). A
/// long range that ends after the targets' newest minute bucket (the usual "last 30 days" up
/// to now) reads its last, partial week (or day) as one bucket: every sample writes its minute,
/// hour, day and week buckets together, so with no minute bucket starting at or after `to`
/// that bucket holds exactly what the range covers of its span.
///
/// A range ending now (the pages' and the API's default, `to` taken when the request came in)
/// needs no look: a sample is stamped with its probe's start, so only probes started since
/// `to` can lie past it, and [`OPEN_END_MS`] bounds how many that may add. Any other end costs
/// one primary-key step per target (the newest minute bucket is the end of its key range), no
/// extra index; over every target of the country those steps were most of the read.
fn segments(
    c: &mut dyn Sql,
    ids: Option<&[(i64, String)]>,
    from: i64,
    to: i64,
) -> Result<Vec<Segment>, SqlError> {
    if to - from <= COARSE_AFTER_MS {
        return Ok(plan(from, to));
    }
    if to >= ms(crate::time::now_ms()) - OPEN_END_MS {
        return Ok(plan_to_latest(from, to));
    }
    let mut sql = String::from(
        "SELECT max((SELECT max(r.bucket_ms) FROM rollup_minute r WHERE r.target_id = t.id))
         FROM targets t",
    );
    let mut params = Vec::new();
    match ids {
        None => {}
        Some([]) => return Ok(plan(from, to)),
        Some([(id, _)]) => {
            sql.push_str(" WHERE t.id = ?1");
            params.push(Value::Int(*id));
        }
        Some(ids) => {
            // Integers from our own table: safe to inline (see availability_by_target).
            let list = ids.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>();
            sql.push_str(&format!(" WHERE t.id IN ({})", list.join(",")));
        }
    }
    let newest: Option<i64> = c.query_one(&sql, &params)?.get(0)?;
    Ok(match newest {
        Some(m) if m >= to => plan(from, to),
        _ => plan_to_latest(from, to),
    })
}

/// Availability per target key over `[from, to)`; `targets = None` means every target.
pub(crate) fn availability_by_target(
    c: &mut dyn Sql,
    targets: Option<&[String]>,
    from: i64,
    to: i64,
) -> Result<HashMap<String, Availability>, SqlError> {
    let mut totals: HashMap<i64, Sums> = HashMap::new();
    let ids = target_ids(c, targets)?;
    let segs = segments(c, ids.as_deref(), from, to)?;
    if ids.is_none() && c.engine() == Engine::Postgres {
        return every_target_at_once(c, &segs);
    }
    for seg in segs {
        let table = seg.resolution.table();
        let mut sql = if ids.is_none() && c.engine() == Engine::Sqlite {
            // Every target: SQLite walks the targets and reads each one's range from the
            // primary key (target_id, bucket_ms), so rows arrive grouped and contiguous. The
            // plain form reads the day table through its bucket index, fetches each row by
            // key and sorts them into groups in a temporary B-tree: three times slower.
            format!(
                "SELECT t.id, {SUM_COLUMNS} FROM targets t JOIN {table} r
                 ON r.target_id = t.id AND r.bucket_ms >= ?1 AND r.bucket_ms < ?2"
            )
        } else {
            format!(
                "SELECT target_id, {SUM_COLUMNS} FROM {table} WHERE bucket_ms >= ?1 AND bucket_ms < ?2"
            )
        };
        let mut params = vec![Value::Int(seg.from), Value::Int(seg.to)];
        if let Some(ids) = &ids {
            if ids.is_empty() {
                continue;
            }
            if let [(id, _)] = ids.as_slice() {
                // One target (its own page): a parameter, so the statement is prepared once
                // per connection rather than once per target.
                sql.push_str(" AND target_id = ?3");
                params.push(Value::Int(*id));
            } else {
                // Ids are integers from our own table, so inlining them is safe and keeps one
                // statement for any number of targets.
                let list = ids
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                sql.push_str(&format!(" AND target_id IN ({list})"));
            }
        }
        sql.push_str(if ids.is_none() && c.engine() == Engine::Sqlite {
            " GROUP BY t.id"
        } else {
            " GROUP BY target_id"
        });
        for r in c.query(&sql, &params)? {
            let id: i64 = r.get(0)?;
            totals.entry(id).or_default().add(&sums_from(&r, 1)?);
        }
    }
    let names = match ids {
        Some(ids) => ids.into_iter().collect::<HashMap<i64, String>>(),
        None => all_targets(c)?,
    };
    Ok(names
        .into_iter()
        .map(|(id, key)| (key, totals.get(&id).copied().unwrap_or_default().finish()))
        .collect())
}

/// Every target's sums over `segs` in one PostgreSQL statement: the segments' rows gathered
/// with UNION ALL, summed per target and named by a join, so the country's view is one round
/// trip and one row per target, not a row per target per segment plus the list of names. The
/// cost left is PostgreSQL's per-row aggregation: about eight buckets per target for a month.
fn every_target_at_once(
    c: &mut dyn Sql,
    segs: &[Segment],
) -> Result<HashMap<String, Availability>, SqlError> {
    let mut params = Vec::with_capacity(segs.len() * 2);
    let parts: Vec<String> = segs
        .iter()
        .map(|seg| {
            params.push(Value::Int(seg.from));
            params.push(Value::Int(seg.to));
            format!(
                "SELECT target_id, count, ok, degraded, latency_sum_us, latency_min_us,
                        latency_max_us, loss_sum, loss_count
                 FROM {} WHERE bucket_ms >= ?{} AND bucket_ms < ?{}",
                seg.resolution.table(),
                params.len() - 1,
                params.len()
            )
        })
        .collect();
    if parts.is_empty() {
        // An empty range: every target, with nothing counted.
        return Ok(all_targets(c)?
            .into_values()
            .map(|key| (key, Sums::default().finish()))
            .collect());
    }
    // Summed by id inside, then named: grouping by the key text instead sorted 160,000 rows
    // of the country's month on disk.
    let sql = format!(
        "SELECT t.key, r.* FROM targets t LEFT JOIN
             (SELECT target_id, {SUM_COLUMNS} FROM ({}) u GROUP BY target_id) r
         ON r.target_id = t.id",
        parts.join(" UNION ALL ")
    );
    c.query(&sql, &params)?
        .iter()
        .map(|r| Ok((r.get(0)?, sums_from(r, 2)?.finish())))
        .collect()
}

fn all_targets(c: &mut dyn Sql) -> Result<HashMap<i64, String>, SqlError> {
    c.query("SELECT id, key FROM targets", args![])?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect()
}

/// Keys past which [`target_ids`] reads the whole targets table once.
const BULK_KEYS: usize = 32;

/// Maps keys to ids; keys never seen by the store are left out.
fn target_ids(
    c: &mut dyn Sql,
    targets: Option<&[String]>,
) -> Result<Option<Vec<(i64, String)>>, SqlError> {
    let Some(keys) = targets else { return Ok(None) };
    if keys.len() > BULK_KEYS {
        // A province or the whole country: one read of the (small) targets table instead of a
        // statement per key, each a round trip on PostgreSQL.
        let all: HashMap<String, i64> = c
            .query("SELECT key, id FROM targets", args![])?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect::<Result<_, SqlError>>()?;
        return Ok(Some(
            keys.iter()
                .filter_map(|k| all.get(k).map(|id| (*id, k.clone())))
                .collect(),
        ));
    }
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(r) = c.query_opt("SELECT id FROM targets WHERE key = ?1", args![k])? {
            out.push((r.get(0)?, k.clone()));
        }
    }
    Ok(Some(out))
}

fn stored_sample(r: &Row, first: usize) -> Result<StoredSample, SqlError> {
    Ok(StoredSample {
        at: from_ms(r.get(first)?),
        ok: r.get(first + 1)?,
        degraded: r.get(first + 2)?,
        latency_seconds: r.get::<i64>(first + 3)? as f64 / 1e6,
        error: r.get(first + 4)?,
        detail: r.get(first + 5)?,
    })
}

impl Store {
    /// The stored state of every target, keyed by target id.
    pub async fn load_states(&self) -> Result<HashMap<String, StoredState>, StoreError> {
        self.read(|c| {
            let rows = c.query(
                "SELECT t.key, s.state, s.since_ms, s.consecutive_ok, s.consecutive_fail, s.data,
                        x.at_ms, x.ok, x.degraded, x.latency_us, x.error, x.detail
                 FROM target_state s JOIN targets t ON t.id = s.target_id
                 LEFT JOIN samples x ON x.target_id = s.target_id AND x.at_ms =
                     (SELECT max(at_ms) FROM samples WHERE target_id = s.target_id)",
                args![],
            )?;
            let mut out = HashMap::with_capacity(rows.len());
            for r in rows {
                let key: String = r.get(0)?;
                let data: Option<String> = r.get(5)?;
                // Rows written before the full state was stored carry only the basic columns.
                let state = match data.and_then(|d| serde_json::from_str::<TargetState>(&d).ok()) {
                    Some(s) => s,
                    None => {
                        let mut s = TargetState::new(from_ms(r.get(2)?));
                        s.state = State::parse(&r.get::<String>(1)?).unwrap_or(State::Unknown);
                        s.consecutive_ok = r.get(3)?;
                        s.consecutive_fail = r.get(4)?;
                        s
                    }
                };
                let last = match r.get::<Option<i64>>(6)? {
                    Some(_) => Some(stored_sample(&r, 6)?),
                    None => None,
                };
                out.insert(key, StoredState { state, last });
            }
            Ok(out)
        })
        .await
    }

    /// The most recent samples of one target, newest first.
    pub async fn recent_samples(
        &self,
        target: &str,
        limit: usize,
    ) -> Result<Vec<StoredSample>, StoreError> {
        let target = target.to_string();
        self.read(move |c| {
            c.query(
                "SELECT s.at_ms, s.ok, s.degraded, s.latency_us, s.error, s.detail
                 FROM samples s JOIN targets t ON t.id = s.target_id
                 WHERE t.key = ?1 ORDER BY s.at_ms DESC LIMIT ?2",
                args![&target, limit],
            )?
            .iter()
            .map(|r| stored_sample(r, 0))
            .collect()
        })
        .await
    }

    /// How many raw samples are stored for one target.
    pub async fn sample_count(&self, target: &str) -> Result<u64, StoreError> {
        let target = target.to_string();
        self.read(move |c| {
            c.query_one(
                "SELECT count(*) FROM samples s JOIN targets t ON t.id = s.target_id WHERE t.key = ?1",
                args![&target],
            )?
            .get::<u64>(0)
        })
        .await
    }

    /// Incidents matching `f`, newest first.
    pub async fn incidents(&self, f: IncidentFilter) -> Result<Vec<IncidentRow>, StoreError> {
        self.read(move |c| {
            let mut sql = String::from(
                "SELECT i.id, t.key, i.started_at_ms, i.detected_at_ms, i.ended_at_ms, i.first_state,
                        i.worst_state, i.cause_error, i.cause_detail, i.explained_by
                 FROM incidents i JOIN targets t ON t.id = i.target_id WHERE 1 = 1",
            );
            let mut args: Vec<Value> = Vec::new();
            match f.open {
                Some(true) => sql.push_str(" AND i.ended_at_ms IS NULL"),
                Some(false) => sql.push_str(" AND i.ended_at_ms IS NOT NULL"),
                None => {}
            }
            if let Some(to) = f.to {
                args.push(Value::Int(ms(to)));
                sql.push_str(&format!(" AND i.started_at_ms < ?{}", args.len()));
            }
            if let Some(from) = f.from {
                args.push(Value::Int(ms(from)));
                sql.push_str(&format!(" AND (i.ended_at_ms IS NULL OR i.ended_at_ms >= ?{})", args.len()));
            }
            if let Some(targets) = &f.targets {
                sql.push_str(" AND t.key IN (");
                for (i, k) in targets.iter().enumerate() {
                    args.push(Value::Text(k.clone()));
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!("?{}", args.len()));
                }
                if targets.is_empty() {
                    sql.push_str("NULL");
                }
                sql.push(')');
            }
            args.push(Value::Int(f.limit.max(1) as i64));
            sql.push_str(&format!(" ORDER BY i.started_at_ms DESC, i.id DESC LIMIT ?{}", args.len()));
            args.push(Value::Int(f.offset as i64));
            sql.push_str(&format!(" OFFSET ?{}", args.len()));
            let now = ms(crate::time::now_ms());
            c.query(&sql, &args)?
                .iter()
                .map(|r| {
                    let started: i64 = r.get(2)?;
                    let ended: Option<i64> = r.get(4)?;
                    Ok(IncidentRow {
                        id: r.get(0)?,
                        target: r.get(1)?,
                        started_at: from_ms(started),
                        detected_at: from_ms(r.get(3)?),
                        ended_at: ended.map(from_ms),
                        open: ended.is_none(),
                        first_state: State::parse(&r.get::<String>(5)?).unwrap_or(State::Down),
                        worst_state: State::parse(&r.get::<String>(6)?).unwrap_or(State::Down),
                        cause_error: r.get(7)?,
                        cause_detail: r.get(8)?,
                        explained_by: r.get(9)?,
                        duration_seconds: (ended.unwrap_or(now) - started).max(0) as f64 / 1e3,
                    })
                })
                .collect()
        })
        .await
    }

    /// Availability per target over `[from, to)`, from rollups. `None` means every target the
    /// store has seen; targets without samples in the range have a count of zero.
    pub async fn availability(
        &self,
        targets: Option<Vec<String>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<String, Availability>, StoreError> {
        self.read(move |c| availability_by_target(c, targets.as_deref(), ms(from), ms(to)))
            .await
    }

    /// Availability of a set of targets summed together (an operator, a commune, a drill scope).
    pub async fn group_availability(
        &self,
        targets: Vec<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Availability, StoreError> {
        self.read(move |c| {
            let ids = target_ids(c, Some(&targets))?.unwrap_or_default();
            let mut total = Sums::default();
            if ids.is_empty() {
                return Ok(total.finish());
            }
            let list = ids.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>().join(",");
            for seg in segments(c, Some(&ids), ms(from), ms(to))? {
                // Ids are integers from our own table, so inlining them is safe and lets one
                // statement cover thousands of targets.
                let sql = format!(
                    "SELECT {SUM_COLUMNS} FROM {} WHERE bucket_ms >= ?1 AND bucket_ms < ?2 AND target_id IN ({list})",
                    seg.resolution.table()
                );
                let r = c.query_one(&sql, args![seg.from, seg.to])?;
                total.add(&sums_from(&r, 0)?);
            }
            Ok(total.finish())
        })
        .await
    }

    /// One target's buckets of `resolution` over `[from, to)`, oldest first.
    pub async fn series(
        &self,
        target: &str,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Bucket>, StoreError> {
        let target = target.to_string();
        self.read(move |c| {
            let sql = format!(
                "SELECT r.bucket_ms, r.count, r.ok, r.degraded, r.latency_sum_us, r.latency_min_us,
                        r.latency_max_us, r.loss_sum, r.loss_count
                 FROM {} r JOIN targets t ON t.id = r.target_id
                 WHERE t.key = ?1 AND r.bucket_ms >= ?2 AND r.bucket_ms < ?3 ORDER BY r.bucket_ms",
                resolution.table()
            );
            let from = resolution.floor(ms(from));
            c.query(&sql, args![&target, from, ms(to)])?
                .iter()
                .map(|r| {
                    Ok(Bucket {
                        at: from_ms(r.get(0)?),
                        availability: sums_from(r, 1)?.finish(),
                    })
                })
                .collect()
        })
        .await
    }

    /// Size of the record in bytes: the SQLite file (the WAL is checkpointed regularly), or the
    /// PostgreSQL database.
    pub async fn size_bytes(&self) -> Result<u64, StoreError> {
        self.read(|c| match c.engine() {
            super::Engine::Sqlite => {
                let pages: i64 = c.query_one("PRAGMA page_count", args![])?.get(0)?;
                let size: i64 = c.query_one("PRAGMA page_size", args![])?.get(0)?;
                Ok((pages * size) as u64)
            }
            super::Engine::Postgres => c
                .query_one("SELECT pg_database_size(current_database())", args![])?
                .get::<u64>(0),
        })
        .await
    }
}

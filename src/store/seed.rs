//! Synthetic history for benchmarks and demos: rollups over a span (thirty days, say) for
//! every target in a store, as probing would have left them, written directly in SQL — what a
//! long availability query reads without waiting a month to measure it.

use chrono::{DateTime, Utc};

use super::rollup::{Resolution, WEEK_ALIGN_MS, WEEK_MS};
use super::sql::{Sql, SqlError, args};
use super::{Store, StoreError};

impl Store {
    /// Adds `keys` to the store's targets (existing ones stay) and fills rollups from `from` to
    /// `to` for every target: day buckets over the whole span and the weeks they make up, hours
    /// for its first and last day, minutes for its first and last hour — the buckets an
    /// availability query over the span reads. Every bucket holds a minute's probe per minute
    /// of its width, a few failed (the target's id modulo 3), latencies of 8 to 48 ms. One
    /// writer transaction.
    pub async fn seed_rollups(
        &self,
        keys: Vec<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(move |tx| seed(tx, &keys, from, to)).await?;
        // Fresh statistics, so the planner reads the new rows as a month would leave them.
        self.write(|tx| tx.batch("ANALYZE")).await
    }
}

fn seed(
    tx: &mut dyn Sql,
    keys: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), SqlError> {
    for k in keys {
        tx.execute(
            "INSERT INTO targets(key) VALUES (?1) ON CONFLICT (key) DO NOTHING",
            args![k],
        )?;
    }
    let mut fill = |res: Resolution, a: DateTime<Utc>, b: DateTime<Utc>| -> Result<(), SqlError> {
        let a = res.floor(a.timestamp_millis());
        let b = b.timestamp_millis();
        let per = res.width_ms() / 60_000;
        tx.execute(
            &format!(
                "WITH RECURSIVE b(ms) AS (SELECT CAST(?1 AS BIGINT) UNION ALL SELECT ms + ?3 FROM b WHERE ms + ?3 < ?2)
                 INSERT INTO {t}(target_id, bucket_ms, count, ok, degraded, latency_sum_us,
                                 latency_min_us, latency_max_us, loss_sum, loss_count)
                 SELECT t.id, b.ms, ?4, ?4 - (t.id % 3), 0, ?4 * 20000, 8000, 48000, 0, 0 FROM targets t, b
                 WHERE true
                 {REPLACE}",
                t = res.table()
            ),
            args![a, b, res.width_ms(), per],
        )?;
        Ok(())
    };
    let day = chrono::Duration::days(1);
    let hour = chrono::Duration::hours(1);
    // Whole days, then the day holding `to` with only the minutes up to `to`, as probing
    // until `to` leaves it (a range ending there may read that day's bucket whole).
    let last_day = Resolution::Day.floor(to.timestamp_millis());
    fill(
        Resolution::Day,
        from,
        chrono::DateTime::from_timestamp_millis(last_day).unwrap_or(to),
    )?;
    fill(Resolution::Hour, from, (from + day).min(to))?;
    fill(Resolution::Hour, (to - day).max(from), to)?;
    fill(Resolution::Minute, from, (from + hour).min(to))?;
    fill(Resolution::Minute, (to - hour).max(from), to)?;
    let minutes = (to.timestamp_millis() - last_day + 59_999) / 60_000;
    if minutes > 0 {
        tx.execute(
            &format!("INSERT INTO rollup_day(target_id, bucket_ms, count, ok, degraded, latency_sum_us,
                                    latency_min_us, latency_max_us, loss_sum, loss_count)
             SELECT t.id, CAST(?1 AS BIGINT), CAST(?2 AS BIGINT), CAST(?2 AS BIGINT) - (t.id % 3), 0,
                    CAST(?2 AS BIGINT) * 20000, 8000, 48000, 0, 0 FROM targets t
             WHERE true {REPLACE}"),
            args![last_day, minutes],
        )?;
    }
    // The weeks the seeded days fall in, summed from every day of each week, as the writer's
    // week buckets would hold them.
    let (week, shift) = (WEEK_MS, WEEK_ALIGN_MS);
    tx.execute(
        &format!(
            "INSERT INTO rollup_week(target_id, bucket_ms, count, ok, degraded, latency_sum_us,
                                     latency_min_us, latency_max_us, loss_sum, loss_count)
             SELECT target_id, (bucket_ms + {shift}) / {week} * {week} - {shift}, sum(count), sum(ok),
                    sum(degraded), sum(latency_sum_us), min(latency_min_us), max(latency_max_us),
                    sum(loss_sum), sum(loss_count)
             FROM rollup_day WHERE bucket_ms >= ?1 AND bucket_ms < ?2
             GROUP BY 1, 2 {REPLACE}"
        ),
        args![
            Resolution::Week.floor(from.timestamp_millis()),
            Resolution::Week.ceil(to.timestamp_millis() + 1)
        ],
    )?;
    Ok(())
}

/// The upsert tail that makes a seeded bucket replace whatever the bucket held.
const REPLACE: &str = "ON CONFLICT (target_id, bucket_ms) DO UPDATE SET count = excluded.count,
    ok = excluded.ok, degraded = excluded.degraded, latency_sum_us = excluded.latency_sum_us,
    latency_min_us = excluded.latency_min_us, latency_max_us = excluded.latency_max_us,
    loss_sum = excluded.loss_sum, loss_count = excluded.loss_count";

#[cfg(test)]
mod tests {
    use crate::store::{Retention, Store};

    #[tokio::test]
    async fn thirty_days_of_rollups_answer_a_thirty_day_query() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.db");
        let (store, writer) = Store::open(&path, Retention::default()).unwrap();
        let to = crate::time::now_ms();
        let from = to - chrono::Duration::days(30);
        let keys = ["ht-a", "ht-b", "ht-c"].map(String::from).to_vec();
        store.seed_rollups(keys, from, to).await.unwrap();
        let all = store.availability(None, from, to).await.unwrap();
        assert_eq!(all.len(), 3, "{all:?}");
        for a in all.values() {
            // About 43,200 minutes of probes; a target fails 0, 1 or 2 per bucket read (a
            // handful of buckets).
            assert!(a.count > 40_000 && a.count <= 43_300, "{a:?}");
            assert!(a.ok <= a.count && a.count - a.ok < 500, "{a:?}");
        }
        drop(store);
        writer.join().await;
    }
}

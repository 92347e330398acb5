-- Local weeks (Monday 00:00 Asia/Ho_Chi_Minh, UTC+7), written as samples arrive like the other
-- rollups, so a 30-day view of every target reads a handful of rows per target, not thirty.
CREATE TABLE rollup_week (
    target_id      INTEGER NOT NULL,
    bucket_ms      INTEGER NOT NULL,
    count          INTEGER NOT NULL,
    ok             INTEGER NOT NULL,
    degraded       INTEGER NOT NULL,
    latency_sum_us INTEGER NOT NULL,
    latency_min_us INTEGER,
    latency_max_us INTEGER,
    loss_sum       REAL    NOT NULL,
    loss_count     INTEGER NOT NULL,
    PRIMARY KEY (target_id, bucket_ms)
) WITHOUT ROWID;

-- The weeks of the record so far, from its days. A day bucket starts at a local midnight
-- (bucket_ms + 7 h is a whole number of days); shifting by three days more puts the week's
-- start on a Monday (1970-01-01 was a Thursday). All values are positive, so integer division
-- is the floor.
INSERT INTO rollup_week(target_id, bucket_ms, count, ok, degraded, latency_sum_us,
                        latency_min_us, latency_max_us, loss_sum, loss_count)
SELECT target_id,
       (bucket_ms + 25200000 + 259200000) / 604800000 * 604800000 - 259200000 - 25200000,
       sum(count), sum(ok), sum(degraded), sum(latency_sum_us), min(latency_min_us),
       max(latency_max_us), sum(loss_sum), sum(loss_count)
FROM rollup_day
GROUP BY 1, 2;

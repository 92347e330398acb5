-- Local weeks (Monday 00:00 Asia/Ho_Chi_Minh, UTC+7), written as samples arrive like the other
-- rollups, so a 30-day view of every target reads a handful of rows per target, not thirty.
CREATE TABLE rollup_week (LIKE rollup_minute INCLUDING ALL);
-- Every target over a range reads the weeks by time (as rollup_day does): the primary key leads
-- with the target.
CREATE INDEX rollup_week_by_bucket ON rollup_week(bucket_ms);

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

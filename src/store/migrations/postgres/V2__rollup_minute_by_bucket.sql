-- The newest minute bucket, read in one index step: a long availability range that ends at or
-- after it reads its last, partial day as that day's bucket instead of up to 23 hours and 59
-- minutes of buckets per target (rollup::plan_to_latest). SQLite's V7.
CREATE INDEX rollup_minute_by_bucket ON rollup_minute(bucket_ms);

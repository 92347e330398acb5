-- Full engine state per target (JSON of state::TargetState), so thresholds, flap history and
-- incident bookkeeping resume exactly after a restart.
ALTER TABLE target_state ADD COLUMN data TEXT;

-- Whether the failure checks passed but a degraded check failed.
ALTER TABLE samples ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0;

-- One row per outage: opened when a target leaves UP, closed when it returns.
CREATE TABLE incidents (
    id             INTEGER PRIMARY KEY,
    target_id      INTEGER NOT NULL REFERENCES targets(id),
    started_at_ms  INTEGER NOT NULL,   -- first failed result
    detected_at_ms INTEGER NOT NULL,   -- threshold crossed
    ended_at_ms    INTEGER,            -- first good result of the recovery; NULL while open
    first_state    TEXT    NOT NULL,
    worst_state    TEXT    NOT NULL,
    cause_error    TEXT,               -- bounded error code
    cause_detail   TEXT,               -- failing checks in resolved form, or error text
    explained_by   TEXT                -- the parent target that explained it (UNREACHABLE)
);
CREATE UNIQUE INDEX incidents_one_open_per_target ON incidents(target_id) WHERE ended_at_ms IS NULL;
CREATE INDEX incidents_by_target_start ON incidents(target_id, started_at_ms);
CREATE INDEX incidents_by_start ON incidents(started_at_ms);

-- Rollups, written as samples arrive, so range queries never scan raw samples.
-- Latency columns cover successful probes only: a timeout is not a latency.
CREATE TABLE rollup_minute (
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

CREATE TABLE rollup_hour (
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

-- Days are local days (Asia/Ho_Chi_Minh, UTC+7 all year), the unit reports are read in.
CREATE TABLE rollup_day (
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
CREATE INDEX rollup_day_by_bucket ON rollup_day(bucket_ms);

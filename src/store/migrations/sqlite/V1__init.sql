-- Targets are stored by a small integer so the sample table stays compact.
CREATE TABLE targets (
    id  INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);

-- Every probe result. Times are milliseconds since the Unix epoch (UTC). Clustered by target and
-- time (no rowid, no second index): the per-target history reads are range scans and the table
-- is a third smaller than with a separate index. A target's probes are at least a second apart,
-- so (target, time) is unique.
CREATE TABLE samples (
    target_id  INTEGER NOT NULL REFERENCES targets(id),
    at_ms      INTEGER NOT NULL,
    ok         INTEGER NOT NULL,
    latency_us INTEGER NOT NULL,
    error      TEXT,
    detail     TEXT,
    PRIMARY KEY (target_id, at_ms)
) WITHOUT ROWID;

-- The state engine's position per target, so a restart resumes instead of starting over.
CREATE TABLE target_state (
    target_id        INTEGER PRIMARY KEY REFERENCES targets(id),
    state            TEXT    NOT NULL,
    since_ms         INTEGER NOT NULL,
    consecutive_ok   INTEGER NOT NULL,
    consecutive_fail INTEGER NOT NULL,
    last_at_ms       INTEGER,
    last_ok          INTEGER,
    last_latency_us  INTEGER,
    last_error       TEXT,
    last_detail      TEXT
);

-- Targets are stored by a small integer so the sample table stays compact.
CREATE TABLE targets (
    id  INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);

-- Every probe result. Times are milliseconds since the Unix epoch (UTC).
CREATE TABLE samples (
    target_id  INTEGER NOT NULL REFERENCES targets(id),
    at_ms      INTEGER NOT NULL,
    ok         INTEGER NOT NULL,
    latency_us INTEGER NOT NULL,
    error      TEXT,
    detail     TEXT
);
CREATE INDEX samples_by_target_time ON samples(target_id, at_ms);

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

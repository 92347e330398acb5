-- Alerting. State changes that may notify are recorded as alert events in the same transaction
-- as the state change itself; the grouping stage turns them into outbox messages, and delivery
-- workers send those. Nothing is sent inline, so a crash or a receiver outage loses nothing.
CREATE TABLE alert_events (
    id             INTEGER PRIMARY KEY,
    target         TEXT    NOT NULL,       -- target id ('' for the monitor itself)
    kind           TEXT    NOT NULL,       -- firing | resolved | flapping_start | flapping_stop | isolated | reconnected
    state          TEXT    NOT NULL,
    at_ms          INTEGER NOT NULL,
    started_at_ms  INTEGER,                -- when the outage began
    cause          TEXT,                   -- failing checks in resolved form, or the error
    explained_by   TEXT,
    drill_id       TEXT,
    processed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alert_events_unprocessed ON alert_events(id) WHERE processed = 0;

-- Grouping state per receiver and group, so reminders and follow-ups survive restarts.
CREATE TABLE alert_groups (
    receiver  TEXT NOT NULL,
    group_key TEXT NOT NULL,
    data      TEXT NOT NULL,               -- JSON of alerting::group::Group
    PRIMARY KEY (receiver, group_key)
) WITHOUT ROWID;

-- One row per message per receiver. Per receiver, rows are delivered in id order.
CREATE TABLE outbox (
    id                 INTEGER PRIMARY KEY,
    receiver           TEXT    NOT NULL,
    group_key          TEXT    NOT NULL,
    idempotency_key    TEXT    NOT NULL UNIQUE,
    status             TEXT    NOT NULL,   -- pending | delivered | dead
    notification       TEXT    NOT NULL,   -- JSON of alerting::model::Notification
    drill_id           TEXT,
    created_at_ms      INTEGER NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    last_status        INTEGER,            -- HTTP status of the last attempt
    last_error         TEXT,
    delivered_at_ms    INTEGER
);
CREATE INDEX outbox_pending ON outbox(receiver, id) WHERE status = 'pending';
CREATE INDEX outbox_by_created ON outbox(created_at_ms);

-- Ad-hoc silences created by officers: mute notifications, never recording.
CREATE TABLE silences (
    id            INTEGER PRIMARY KEY,
    matchers      TEXT    NOT NULL,        -- JSON object label -> value
    starts_at_ms  INTEGER NOT NULL,
    ends_at_ms    INTEGER NOT NULL,
    author        TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expired_by    TEXT                     -- who ended it early
);

-- The last heartbeat push of each heartbeat target, so a restart does not forget a push that
-- arrived just before it (the target would otherwise count its silence from the restart).
CREATE TABLE heartbeats (
    target  TEXT    PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    status  TEXT    NOT NULL,       -- ok | fail
    message TEXT,
    pushes  INTEGER NOT NULL        -- pushes received in total
) WITHOUT ROWID;

-- Drills: a province's communications exercise, recorded minute by minute for the after-action
-- report. A drill is started by an officer (API, page, CLI) or by a `[[drills]]` entry in the
-- configuration, and ends when stopped or at its planned end, even across restarts.
CREATE TABLE drills (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    scenario         TEXT    NOT NULL DEFAULT '',
    scope            TEXT    NOT NULL,     -- JSON object label -> [values]; empty = everything
    leaders          TEXT    NOT NULL DEFAULT '[]',  -- JSON array of the people in charge
    interval_ms      INTEGER,              -- probing interval in scope; NULL keeps each target's own
    baseline_ms      INTEGER NOT NULL,     -- length of the comparison window before the start
    planned_start_ms INTEGER NOT NULL,
    planned_end_ms   INTEGER NOT NULL,
    started_at_ms    INTEGER NOT NULL,
    ended_at_ms      INTEGER,              -- NULL while running
    end_reason       TEXT,                 -- stopped | planned_end
    started_by       TEXT    NOT NULL,     -- token name, `config` or `cli`
    stopped_by       TEXT,
    schedule_key     TEXT UNIQUE           -- a configured drill, so a restart never starts it twice
);

-- The targets a drill covered, fixed when it starts (a reload during the drill may add more).
CREATE TABLE drill_targets (
    drill_id INTEGER NOT NULL REFERENCES drills(id),
    target   TEXT    NOT NULL,
    PRIMARY KEY (drill_id, target)
) WITHOUT ROWID;

-- Timeline notes by officers; a note may announce an injected fault (expected outage) for some
-- targets, which the report checks against what was observed.
CREATE TABLE drill_notes (
    id                INTEGER PRIMARY KEY,
    drill_id          INTEGER NOT NULL REFERENCES drills(id),
    at_ms             INTEGER NOT NULL,    -- when it happened (officers may note after the fact)
    author            TEXT    NOT NULL,
    text              TEXT    NOT NULL,
    expected_targets  TEXT,                -- JSON array of target ids expected to fail
    expected_until_ms INTEGER,             -- when the injected fault is expected to end
    created_at_ms     INTEGER NOT NULL
);
CREATE INDEX drill_notes_by_drill ON drill_notes(drill_id, at_ms);

-- Samples and incidents recorded while a drill covered the target carry its id.
ALTER TABLE samples ADD COLUMN drill_id INTEGER;
ALTER TABLE incidents ADD COLUMN drill_id INTEGER;

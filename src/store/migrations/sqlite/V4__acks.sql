-- Acknowledgements: a duty officer says "I have this incident", with a comment. An incident may be
-- acknowledged more than once (hand-over between shifts); every acknowledgement is kept.
CREATE TABLE incident_acks (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    author      TEXT    NOT NULL,   -- the token's name from [[auth.tokens]]
    comment     TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX incident_acks_by_incident ON incident_acks(incident_id, at_ms);

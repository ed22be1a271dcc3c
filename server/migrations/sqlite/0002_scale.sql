-- The audit chain's head: one row that every write transaction updates first, so that the
-- database serialises appends (and the changes they record) across processes.
CREATE TABLE audit_head (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    seq            INTEGER NOT NULL,
    hash           TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
SELECT 1,
       COALESCE((SELECT seq FROM audit ORDER BY seq DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000');

-- Server-wide values (the root-key check, first-start markers).
CREATE TABLE meta (
    name           TEXT PRIMARY KEY,
    value          BLOB NOT NULL
);

-- Archive objects: an ID is claimed by one uploader (the primary key), then completed.
CREATE TABLE objects (
    object_id      TEXT PRIMARY KEY,
    owner          TEXT NOT NULL,
    state          TEXT NOT NULL,
    size           INTEGER NOT NULL,
    next_part      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    has_meta       INTEGER NOT NULL
);
CREATE INDEX objects_owner_state ON objects (owner, state);

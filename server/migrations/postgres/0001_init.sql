-- Keys, their versions (private keys sealed under the root key), aliases, tokens (hashed),
-- the hash-chained audit log and its head, server-wide values, and archive objects.
-- The same tables as migrations/sqlite, in PostgreSQL's types.
CREATE TABLE keys (
    key_id          TEXT PRIMARY KEY,
    description     TEXT NOT NULL,
    key_spec        TEXT NOT NULL,
    key_usage       TEXT NOT NULL,
    state           TEXT NOT NULL,
    deletion_date   BIGINT,
    created_at      BIGINT NOT NULL,
    current_version BIGINT NOT NULL,
    tags            TEXT NOT NULL,
    policy          TEXT NOT NULL
);

CREATE TABLE key_versions (
    key_id         TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    version        BIGINT NOT NULL,
    public_der     BYTEA NOT NULL,
    private_sealed BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE aliases (
    alias_name     TEXT PRIMARY KEY,
    key_id         TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE tokens (
    token_hash     BYTEA PRIMARY KEY,
    principal      TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE audit (
    seq            BIGINT PRIMARY KEY,
    record         TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);

-- Every write transaction updates this row first: PostgreSQL's row lock serialises appends
-- (and the changes they record) across replicas.
CREATE TABLE audit_head (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    seq            BIGINT NOT NULL,
    hash           TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE meta (
    name           TEXT PRIMARY KEY,
    value          BYTEA NOT NULL
);

CREATE TABLE objects (
    object_id      TEXT PRIMARY KEY,
    owner          TEXT NOT NULL,
    state          TEXT NOT NULL,
    size           BIGINT NOT NULL,
    next_part      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    has_meta       BIGINT NOT NULL
);
CREATE INDEX objects_owner_state ON objects (owner, state);

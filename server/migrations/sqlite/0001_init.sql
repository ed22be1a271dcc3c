-- Keys, their versions (private keys sealed under the root key), aliases, tokens (hashed)
-- and the hash-chained audit log.
CREATE TABLE keys (
    key_id         TEXT PRIMARY KEY,
    description    TEXT NOT NULL,
    key_spec       TEXT NOT NULL,
    key_usage      TEXT NOT NULL,
    state          TEXT NOT NULL,
    deletion_date  INTEGER,
    created_at     INTEGER NOT NULL,
    current_version INTEGER NOT NULL,
    tags           TEXT NOT NULL,
    policy         TEXT NOT NULL
);

CREATE TABLE key_versions (
    key_id         TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    public_der     BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (key_id, version)
);

CREATE TABLE aliases (
    alias_name     TEXT PRIMARY KEY,
    key_id         TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE tokens (
    token_hash     BLOB PRIMARY KEY,
    principal      TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE audit (
    seq            INTEGER PRIMARY KEY,
    record         TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);

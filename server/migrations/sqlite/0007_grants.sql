-- Grants (AWS KMS): a key's permission for a grantee principal to use some operations,
-- perhaps only with an encryption context that equals or contains the constraint's.
CREATE TABLE grants (
    grant_id          TEXT PRIMARY KEY,
    key_id            TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    grantee           TEXT NOT NULL,
    retiring          TEXT,
    issuer            TEXT NOT NULL,
    operations        TEXT NOT NULL,
    constraints       TEXT,
    grant_token       TEXT NOT NULL UNIQUE,
    created_at        INTEGER NOT NULL
);
CREATE INDEX grants_key ON grants (key_id);

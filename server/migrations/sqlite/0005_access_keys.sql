-- Access keys for AWS Signature Version 4: the secret is sealed under the root key (the
-- server must recompute signatures, so a hash would not do), bound to its ID as the label.
CREATE TABLE access_keys (
    access_key_id  TEXT PRIMARY KEY,
    principal      TEXT NOT NULL,
    secret_sealed  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);

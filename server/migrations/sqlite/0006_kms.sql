-- The AWS KMS API: keys live in a region and have an origin; symmetric keys keep their
-- AES-256 material sealed in key_versions.private_sealed with an empty public_der. Aliases
-- are per region (AWS: the same alias name may name different keys in two regions), so their
-- table is rebuilt with the region in its primary key. Rows made before this migration
-- belong to us-east-1, the default of --region.
ALTER TABLE keys ADD COLUMN region TEXT NOT NULL DEFAULT 'us-east-1';
ALTER TABLE keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'AWS_KMS';

CREATE TABLE aliases_regional (
    region         TEXT NOT NULL,
    alias_name     TEXT NOT NULL,
    key_id         TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (region, alias_name)
);
INSERT INTO aliases_regional (region, alias_name, key_id, created_at, updated_at)
SELECT 'us-east-1', alias_name, key_id, updated_at, updated_at FROM aliases;
DROP TABLE aliases;
ALTER TABLE aliases_regional RENAME TO aliases;
CREATE INDEX aliases_key ON aliases (key_id);

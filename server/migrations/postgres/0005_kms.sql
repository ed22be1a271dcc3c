-- The AWS KMS API: keys live in a region and have an origin; symmetric keys keep their
-- AES-256 material sealed in key_versions.private_sealed with an empty public_der. Aliases
-- are per region (AWS: the same alias name may name different keys in two regions), so the
-- region joins their primary key. Rows made before this migration belong to us-east-1, the
-- default of --region.
ALTER TABLE keys ADD COLUMN region TEXT NOT NULL DEFAULT 'us-east-1';
ALTER TABLE keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'AWS_KMS';

ALTER TABLE aliases ADD COLUMN region TEXT NOT NULL DEFAULT 'us-east-1';
ALTER TABLE aliases ADD COLUMN created_at BIGINT;
UPDATE aliases SET created_at = updated_at;
ALTER TABLE aliases ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE aliases DROP CONSTRAINT aliases_pkey;
ALTER TABLE aliases ADD PRIMARY KEY (region, alias_name);
CREATE INDEX aliases_key ON aliases (key_id);

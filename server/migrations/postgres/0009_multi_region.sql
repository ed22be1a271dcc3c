-- Multi-Region keys (AWS KMS): a primary key (its row in keys, multi_region = 1) and
-- replicas in other regions of this deployment with the same key ID and the same material
-- (key_versions, shared by key ID), each with its own state, policy, description and tags.
-- Grants belong to one region's key, so they carry the region too.
ALTER TABLE keys ADD COLUMN multi_region BIGINT NOT NULL DEFAULT 0;
CREATE TABLE replica_keys (
    key_id         TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    region         TEXT NOT NULL,
    description    TEXT NOT NULL,
    state          TEXT NOT NULL,
    deletion_date  BIGINT,
    created_at     BIGINT NOT NULL,
    tags           TEXT NOT NULL,
    policy         TEXT NOT NULL,
    PRIMARY KEY (key_id, region)
);
ALTER TABLE grants ADD COLUMN region TEXT NOT NULL DEFAULT 'us-east-1';
UPDATE grants SET region = (SELECT k.region FROM keys k WHERE k.key_id = grants.key_id);

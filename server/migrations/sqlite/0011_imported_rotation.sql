-- Rotation of imported key material (AWS KMS, Origin EXTERNAL): one row per material a key
-- holds or held, the key version it is (the version its blobs name), the fingerprint that
-- recognises it when it comes back (its KeyMaterialId derives from key ID and fingerprint),
-- its description and its own expiry. expiration_model NULL: not imported now (deleted or
-- expired; its key_versions row is gone). rotated_at: when RotateKeyOnDemand made it current
-- (NULL for the first material and for one still pending rotation, version > current).
-- keys.valid_to and keys.expiration_model stay as DescribeKey's summary of the key's own
-- (not pending) materials; the one fingerprint per key moves here as version 1's.
CREATE TABLE key_materials (
    key_id           TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    fingerprint      TEXT NOT NULL,
    description      TEXT NOT NULL,
    expiration_model TEXT,
    valid_to         INTEGER,
    rotated_at       INTEGER,
    PRIMARY KEY (key_id, version)
);
CREATE INDEX key_materials_valid_to ON key_materials (valid_to);
INSERT INTO key_materials (key_id, version, fingerprint, description, expiration_model, valid_to)
    SELECT key_id, 1, material_fingerprint, '', expiration_model, valid_to FROM keys
    WHERE material_fingerprint IS NOT NULL;
ALTER TABLE keys DROP COLUMN material_fingerprint;

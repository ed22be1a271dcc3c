-- Imported key material (AWS KMS Origin EXTERNAL): when it expires, how, and a fingerprint
-- that ties the key to the one material it may ever hold; and the wrapping keys that
-- GetParametersForImport hands out (private halves sealed under the root key), valid 24 h.
ALTER TABLE keys ADD COLUMN valid_to INTEGER;
ALTER TABLE keys ADD COLUMN expiration_model TEXT;
ALTER TABLE keys ADD COLUMN material_fingerprint TEXT;
CREATE TABLE import_parameters (
    import_token      TEXT PRIMARY KEY,
    key_id            TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    wrapping_algorithm TEXT NOT NULL,
    wrapping_key_spec TEXT NOT NULL,
    private_sealed    BLOB NOT NULL,
    valid_to          INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX import_parameters_key ON import_parameters (key_id);

-- Key rotation (AWS KMS): a key's automatic rotation period and next date (NULL: off), and
-- how each version after the first came (AUTOMATIC or ON_DEMAND; NULL for versions made
-- before this migration, by on-demand rotations).
ALTER TABLE keys ADD COLUMN rotation_period_days BIGINT;
ALTER TABLE keys ADD COLUMN next_rotation BIGINT;
ALTER TABLE key_versions ADD COLUMN rotation_type TEXT;

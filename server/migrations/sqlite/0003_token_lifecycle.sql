-- Token lifecycle: an ID to name a token by (in audit records, to revoke it), an optional
-- expiry, and revocation.
ALTER TABLE tokens ADD COLUMN token_id TEXT;
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
UPDATE tokens SET token_id = 'tok_' || lower(hex(randomblob(8))) WHERE token_id IS NULL;
CREATE UNIQUE INDEX tokens_token_id ON tokens (token_id);

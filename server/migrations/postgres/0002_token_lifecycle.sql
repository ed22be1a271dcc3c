-- Token lifecycle: an ID to name a token by (in audit records, to revoke it), an optional
-- expiry, and revocation.
ALTER TABLE tokens ADD COLUMN token_id TEXT;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN revoked_at BIGINT;
UPDATE tokens SET token_id = 'tok_' || substr(md5(random()::text || encode(token_hash, 'hex')), 1, 16)
WHERE token_id IS NULL;
CREATE UNIQUE INDEX tokens_token_id ON tokens (token_id);

-- Signed digests of the audit chain's head (CloudTrail-style): each names the chain's head
-- at a point, the digest before it, and carries the server's signature.
CREATE TABLE audit_digests (
    n              INTEGER PRIMARY KEY,
    seq            INTEGER NOT NULL,
    document       TEXT NOT NULL
);

-- 0008: who may see what (revocable sessions, sign-in throttling), the audit
-- checkpoints peers witness, and crypto-shredding of ended cases.

-- Bumped when a user's password changes or the account is disabled: every token
-- carries the epoch it was issued in, so older tokens stop working at once.
ALTER TABLE users ADD COLUMN token_epoch BIGINT NOT NULL DEFAULT 0;

-- Tokens signed out before they expire. Rows past `expires_at` are deleted.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

-- Failed sign-ins per user and per address. The key is `user:` + SHA-256 of the
-- name typed (which may be a mistyped password, so never kept as typed) or
-- `addr:` + the client address.
CREATE TABLE sign_in_failures (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    locked_until  BIGINT NOT NULL
);

-- Audit checkpoints: `sent` are the heads of our chain we signed to a peer;
-- `held` are the heads of a peer's chain it signed to us, which we keep and serve
-- back so it can prove its history was not rewritten. A peer that sends two
-- different hashes for one position is kept twice: that is the evidence.
CREATE TABLE audit_checkpoints (
    jti        TEXT PRIMARY KEY,
    peer_id    TEXT NOT NULL REFERENCES peers (node_id),
    direction  TEXT NOT NULL CHECK (direction IN ('sent', 'held')),
    position   BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    at         BIGINT NOT NULL     -- when the chain had that head (the signer's clock)
);
CREATE INDEX audit_checkpoints_by_peer ON audit_checkpoints (peer_id, direction, position);

-- When an ended case's sealed content was destroyed (retention). Its clear
-- columns stay for the statistics.
ALTER TABLE cases ADD COLUMN purged_at BIGINT;

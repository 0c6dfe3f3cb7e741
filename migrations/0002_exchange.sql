-- 0002: the exchange. For each peer, two channels (we → peer and peer → we), each a
-- hash chain of signed envelopes; the outbox holds what we send, the inbox what we
-- accepted. Together they are the transcript, kept forever.

-- The head of each channel: the last sequence number and the SHA-256 of that
-- envelope's compact JWS. 'out': envelopes we created for the peer; 'in': envelopes
-- we accepted from it.
CREATE TABLE channels (
    peer_id    TEXT NOT NULL REFERENCES peers (node_id),
    direction  TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    seq        BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    PRIMARY KEY (peer_id, direction)
);

-- Outbound envelopes. Each is signed in the transaction that caused it, so a resend
-- is byte for byte the same envelope. state: queued → delivered, or rejected (the
-- peer refused it for good; the channel then waits for an operator).
CREATE TABLE outbox (
    peer_id          TEXT NOT NULL REFERENCES peers (node_id),
    seq              BIGINT NOT NULL,
    jti              TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    case_id          TEXT,
    jws              TEXT NOT NULL,
    envelope_sha256  TEXT NOT NULL,
    body             TEXT NOT NULL,   -- age ciphertext sealed to the peer, base64
    blobs            TEXT NOT NULL,   -- JSON array of {sha256, len}
    state            TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'rejected')),
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    receipt          TEXT,            -- the peer's signed receipt: proof of delivery
    receipt_status   TEXT,
    delivered_at     BIGINT,
    PRIMARY KEY (peer_id, seq)
);
CREATE INDEX outbox_by_state ON outbox (state, peer_id, seq);

-- Every envelope accepted from a peer. A jti is stored once, forever, so a
-- redelivered envelope is answered from here and never applied twice.
CREATE TABLE inbox (
    peer_id          TEXT NOT NULL REFERENCES peers (node_id),
    seq              BIGINT NOT NULL,
    jti              TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    case_id          TEXT,
    jws              TEXT NOT NULL,
    envelope_sha256  TEXT NOT NULL,
    body             TEXT NOT NULL,   -- age ciphertext sealed to this node, base64, as received
    receipt          TEXT NOT NULL,   -- our signed receipt
    received_at      BIGINT NOT NULL,
    applied_at       BIGINT,
    PRIMARY KEY (peer_id, seq)
);

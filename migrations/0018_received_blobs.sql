-- 0018: blobs a peer uploaded that no envelope has named yet. An accepted
-- envelope naming a blob removes its row (the case then keeps it); a row older
-- than `[limits] orphan_blob_secs` is an orphan, and its blob is deleted. The
-- sum per peer is capped by `[limits] peer_blob_mib`.
CREATE TABLE received_blobs (
    sha256      TEXT PRIMARY KEY,
    peer_id     TEXT NOT NULL,
    len         BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX received_blobs_by_time ON received_blobs (received_at);

-- 0001: the node itself and the peers it trusts.
-- One portable schema serves SQLite and PostgreSQL: TEXT and BIGINT only;
-- timestamps are Unix milliseconds. Never edit a migration once it has landed.

-- Exactly one row: the node this database belongs to. `init` refuses a database
-- that already holds one, so two nodes can never share a database by mistake.
CREATE TABLE node (
    node_id     TEXT PRIMARY KEY,
    country     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Peers, registered by an operator after comparing the descriptor's fingerprint
-- out of band. `descriptor` is the signed JSON exactly as received: the TLS CA,
-- signing keys and age recipients are read from it, so nothing is stored twice.
CREATE TABLE peers (
    node_id         TEXT PRIMARY KEY,
    country         TEXT NOT NULL,
    name            TEXT NOT NULL,
    federation_url  TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    descriptor      TEXT NOT NULL,
    added_at        BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

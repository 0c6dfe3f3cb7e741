-- 0007: the audit log, a hash chain. Each entry's hash covers its own fields and
-- the previous entry's hash, so editing, deleting or inserting a row breaks the
-- chain from there on. Entries hold ids and kinds, never personal data.
CREATE TABLE audit_log (
    position   BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,    -- a user name, `peer:<node id>`, or `node`
    action     TEXT NOT NULL,    -- e.g. case.create, case.move, case.receive, case.read
    case_id    TEXT,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

-- The head of the chain, one row, locked by each append so entries are numbered
-- one at a time on PostgreSQL too.
CREATE TABLE audit_head (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    position  BIGINT NOT NULL,
    hash      TEXT NOT NULL
);
INSERT INTO audit_head (id, position, hash) VALUES (1, 0, '');

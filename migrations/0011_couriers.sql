-- 0011: one row per peer, locked (FOR UPDATE SKIP LOCKED) by the process that is
-- delivering that peer's channel, for as long as it delivers. When several serve
-- processes share one PostgreSQL database, each channel is sent by one of them at
-- a time, in order; a killed process's lock ends with its connection.
CREATE TABLE couriers (
    peer_id  TEXT PRIMARY KEY REFERENCES peers (node_id)
);
-- Peers registered before this migration; `peers::insert` adds the row of each new one.
INSERT INTO couriers (peer_id) SELECT node_id FROM peers;

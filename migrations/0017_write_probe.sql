-- 0017: one row that readiness writes, so a node that cannot write (a full disk)
-- is not ready.
CREATE TABLE write_probe (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL
);
INSERT INTO write_probe (id, at) VALUES (1, 0);

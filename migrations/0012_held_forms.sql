-- 0012: a form posted after its session ended, kept for its user until they sign
-- in again (at most a day). The posted fields are sealed to this node: nothing
-- typed is stored in the clear.
CREATE TABLE held_forms (
    id         TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    path       TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

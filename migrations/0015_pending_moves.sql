-- 0015: a move that waits for a supervisor's approval before it is sent (four
-- eyes): at most one per case, its body sealed to this node.
CREATE TABLE pending_moves (
    case_id    TEXT PRIMARY KEY REFERENCES cases (case_id),
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- 0005: local accounts of the desk. Passwords are argon2id PHC strings.
CREATE TABLE users (
    username       TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('officer', 'supervisor', 'legal_aid', 'admin', 'auditor')),
    org            TEXT,
    password_hash  TEXT NOT NULL,
    disabled       BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);

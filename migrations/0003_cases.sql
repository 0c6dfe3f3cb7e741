-- 0003: cases and their timelines.
-- Clear columns hold only what the workflow and the statistics need (DESIGN §3).
-- Everything that identifies or endangers a person is in `sealed`: base64 of an
-- age ciphertext to this node's own recipient, opened in memory for an authorised read.

CREATE TABLE cases (
    case_id                TEXT PRIMARY KEY,
    host_node              TEXT NOT NULL,
    home_node              TEXT NOT NULL,
    our_side               TEXT NOT NULL CHECK (our_side IN ('host', 'home')),
    state                  TEXT NOT NULL,
    turn                   TEXT CHECK (turn IN ('host', 'home')),
    gender                 TEXT,
    age_at_identification  BIGINT,
    exploitation_types     TEXT,    -- HTCDS names, comma separated
    province_of_origin     TEXT,    -- ISO 3166-2
    crossing_point         TEXT,
    prosecution_milestone  TEXT,
    sealed                 TEXT NOT NULL,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX cases_by_turn ON cases (turn, updated_at);

-- Every move on a case, made here or received, in order: the timeline. The body
-- is sealed to this node. `outcome` says what the move did: applied, superseded
-- (it crossed a withdrawal), or conflict (it fits nothing: flagged for the admin).
CREATE TABLE case_events (
    case_id      TEXT NOT NULL REFERENCES cases (case_id),
    position     BIGINT NOT NULL,
    made_by      TEXT NOT NULL CHECK (made_by IN ('host', 'home')),
    kind         TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('applied', 'superseded', 'conflict')),
    state_after  TEXT NOT NULL,
    jti          TEXT,            -- the envelope that carried it (none for a draft)
    body         TEXT NOT NULL,   -- base64 of age ciphertext to this node
    at           BIGINT NOT NULL,
    PRIMARY KEY (case_id, position)
);

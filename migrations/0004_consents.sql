-- 0004: consent, per case and purpose, recorded on the draft (DESIGN §2).
-- Purpose and whether it is given are clear (they gate what may be sent); the
-- record itself (date, language, witness) is sealed to this node.
CREATE TABLE case_consents (
    case_id      TEXT NOT NULL REFERENCES cases (case_id),
    purpose      TEXT NOT NULL CHECK (purpose IN ('repatriation', 'family_tracing', 'health_information', 'legal_aid_sharing')),
    granted      BIGINT NOT NULL,
    record       TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (case_id, purpose)
);

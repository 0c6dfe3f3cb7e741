-- 0009: the prosecution track and legal-aid access (DESIGN §1, §2).

-- Whether a `testimony_requested` waits for the home side's `testimony_arrangement`:
-- it puts the case in the home side's inbox whatever the return track's turn.
ALTER TABLE cases ADD COLUMN testimony_pending BIGINT NOT NULL DEFAULT 0;

-- The milestones of the criminal case, in order, on both sides: clear, as DESIGN §3
-- allows (the milestone only; dates, courts, charges and amounts stay in the sealed
-- timeline body). Their order is checked against this history.
CREATE TABLE prosecution_milestones (
    case_id    TEXT NOT NULL REFERENCES cases (case_id),
    position   BIGINT NOT NULL,
    milestone  TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (case_id, position)
);

-- A legal-aid organisation's access to one case's prosecution track on this node.
-- Revoking sets `revoked_at`; granting again clears it. Every change is audited.
CREATE TABLE legal_aid_grants (
    case_id     TEXT NOT NULL REFERENCES cases (case_id),
    org         TEXT NOT NULL,
    granted_by  TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    revoked_by  TEXT,
    revoked_at  BIGINT,
    PRIMARY KEY (case_id, org)
);
CREATE INDEX legal_aid_grants_by_org ON legal_aid_grants (org, revoked_at);

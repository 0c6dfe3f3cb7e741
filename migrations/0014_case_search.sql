-- 0014: a blind index for search. Each row is a keyed hash (HMAC-SHA256 under a
-- key only this node holds) of a short normalised piece of a name, an identity
-- document number or a phone number of a case: never the text itself.
CREATE TABLE case_index (
    case_id TEXT NOT NULL,
    token   TEXT NOT NULL,
    PRIMARY KEY (case_id, token)
);
CREATE INDEX case_index_token ON case_index (token);

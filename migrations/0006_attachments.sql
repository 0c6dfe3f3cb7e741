-- 0006: attachments of a case. The bytes are a sealed blob (named by the SHA-256
-- of its ciphertext, sealed to this node); the file name and media type are sealed
-- too, since a file name can name a person.
CREATE TABLE case_attachments (
    case_id       TEXT NOT NULL REFERENCES cases (case_id),
    attachment_id TEXT NOT NULL,
    blob_sha256   TEXT NOT NULL,
    len           BIGINT NOT NULL,
    meta          TEXT NOT NULL,   -- base64 age ciphertext of {"file_name", "media_type"}
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (case_id, attachment_id)
);

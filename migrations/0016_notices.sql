-- 0016: notices by email, and the return date for its reminder.
-- A staff member's email address, for notices that carry no personal data of
-- the person returned; none: no email.
ALTER TABLE users ADD COLUMN email TEXT;
-- When the last notice email went to the user (Unix ms): batching.
ALTER TABLE users ADD COLUMN notified_at BIGINT;
-- What each user has been told of, so nothing is told twice: an item names a
-- thing that waits (a turn on a case, an approval, a reminder, a channel), by
-- ids of this node only. Items no longer waiting are forgotten.
CREATE TABLE notices_sent (
    username TEXT NOT NULL,
    item     TEXT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (username, item)
);
-- The agreed return date of a case (YYYY-MM-DD), clear like its crossing point:
-- a date alone names no one, and the reminder of a handover not recorded needs it.
ALTER TABLE cases ADD COLUMN return_date TEXT;

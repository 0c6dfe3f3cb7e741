-- 0013: who holds each case on this node: the officer who drafted it, or whom it
-- was assigned to; none for a case received and not yet taken (the team's queue).
-- A user name of this node's staff, never anything about the person.
ALTER TABLE cases ADD COLUMN owner TEXT;

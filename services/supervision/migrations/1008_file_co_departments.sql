-- The co-departments of a joint case (organ codes, from intake.case_opened):
-- their officers may read the case's timeline, as they may read the case
-- in intake and review (docs/security.md, the authorisation matrix).
ALTER TABLE files ADD COLUMN co_departments TEXT[] NOT NULL DEFAULT '{}';

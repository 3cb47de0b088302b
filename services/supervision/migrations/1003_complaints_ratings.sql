-- R-SUP-4: one rating counts per case (the interview), whatever the number
-- of links issued for it. The case is found by its keyed hash (PiiVault
-- lookup_hash, kind "supervision.rating"): without the key nobody can test
-- a case id against it, and no RPC reads it.
ALTER TABLE ratings ADD COLUMN case_hash BYTEA;
CREATE UNIQUE INDEX ratings_case ON ratings (case_hash) WHERE case_hash IS NOT NULL;

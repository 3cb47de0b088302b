-- The audit log becomes 64 parallel hash chains instead of one (R-DOC-5).
-- With one head row, every audited transaction of a schema waited for the
-- previous one to commit (the head's row lock is held to commit): a whole
-- province's intake ran one transaction at a time. Now an append locks the
-- lowest-numbered chain head no other transaction holds (FOR UPDATE SKIP
-- LOCKED), so up to 64 transactions append at once; each chain is still
-- gap-free and hash-linked, and `verify` checks every chain against its head.
-- Existing rows and the old head become chain 0.
CREATE TABLE audit_chains (
    chain  SMALLINT PRIMARY KEY CHECK (chain >= 0 AND chain < 64),
    seq    BIGINT   NOT NULL,
    hash   TEXT     NOT NULL
);

INSERT INTO audit_chains (chain, seq, hash) SELECT 0, seq, hash FROM audit_head;
INSERT INTO audit_chains (chain, seq, hash) SELECT c, 0, repeat('0', 64) FROM generate_series(1, 63) AS c;

DROP TABLE audit_head;

ALTER TABLE audit_log ADD COLUMN chain SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE audit_log ALTER COLUMN chain DROP DEFAULT;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log ADD PRIMARY KEY (chain, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- Heads are updated by every append, but never removed.
CREATE TRIGGER audit_chains_keep BEFORE DELETE ON audit_chains
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_chains_no_truncate BEFORE TRUNCATE ON audit_chains
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

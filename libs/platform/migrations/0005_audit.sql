-- Append-only, hash-chained audit log (R-DOC-5, ARCHITECTURE §6). Each row's
-- hash covers its fields and the previous row's hash; `seq` is gap-free
-- because it is taken from the head row under its lock. Triggers forbid
-- UPDATE, DELETE and TRUNCATE of the log (and removing the head);
-- `yuetan audit verify` also detects tampering by anyone who bypasses them.
-- Runs in the service's schema (search_path): no schema names here.
CREATE TABLE audit_log (
    seq            BIGINT      PRIMARY KEY,
    at             TIMESTAMPTZ NOT NULL,
    actor_id       TEXT        NOT NULL,
    actor_organ    TEXT        NOT NULL,
    action         TEXT        NOT NULL,
    subject        TEXT        NOT NULL,
    change_digest  TEXT        NOT NULL,
    change         JSONB       NOT NULL,
    prev_hash      TEXT        NOT NULL,
    hash           TEXT        NOT NULL
);

-- The chain's last seq and hash. Exactly one row (the CHECK on a boolean
-- primary key allows only TRUE); appends lock it, which serialises them.
CREATE TABLE audit_head (
    id    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq   BIGINT  NOT NULL,
    hash  TEXT    NOT NULL
);

INSERT INTO audit_head (id, seq, hash) VALUES (TRUE, 0, repeat('0', 64));

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The head is updated by every append, but never removed.
CREATE TRIGGER audit_head_keep BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

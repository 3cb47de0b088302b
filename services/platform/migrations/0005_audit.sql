-- Append-only, hash-chained audit log (R-DOC-5, ARCHITECTURE §6). Each row's
-- hash covers its fields and the previous row's hash; `seq` is gap-free
-- because it is taken from the head row under its lock. The trigger forbids
-- UPDATE and DELETE; `yuetan audit verify` also detects tampering by anyone
-- who bypasses the trigger.
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

CREATE TABLE audit_head (
    id    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq   BIGINT  NOT NULL,
    hash  TEXT    NOT NULL
);

INSERT INTO audit_head (id, seq, hash) VALUES (TRUE, 0, repeat('0', 64));

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Chain heads move, and audit rows go in, only through `audit_append`
-- (migration 0014), which sets the transaction-local `yuetan.audit_append`
-- around its own writes. An UPDATE of `audit_chains` or an INSERT into
-- `audit_log` by anyone else is refused, so a chain head cannot be moved
-- back over rows cut from its end. With the roles split the runtime role
-- has no UPDATE or INSERT right on these tables at all (and, not owning
-- them, cannot switch these triggers off); this guard also stops the owner
-- and a development setup from doing it by accident.
CREATE FUNCTION audit_only_by_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('yuetan.audit_append', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'the audit log is append-only: % on % refused outside audit_append', TG_OP, TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_chains_only_by_append BEFORE UPDATE ON audit_chains
    FOR EACH ROW EXECUTE FUNCTION audit_only_by_append();

CREATE TRIGGER audit_log_only_by_append BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_only_by_append();

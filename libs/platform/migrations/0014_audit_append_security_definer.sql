-- The audit log can no longer be cut by the service's own database role
-- (docs/security.md). With the roles split (`database.owner_url`), the
-- migration owner owns the audit tables and this function; the service's
-- runtime role may only read them and call `audit_append`, which runs with
-- the owner's rights (SECURITY DEFINER, fixed search_path). The row's time
-- is the database clock's, no longer the caller's: a service (or whoever
-- holds its credentials) cannot backdate a row. The caller still names the
-- actor and the change; the chain hash and `verify` cover them.
--
-- The time is hashed as `audit::row_hash` formats it (RFC 3339, UTC,
-- microseconds, `Z`), so `verify` recomputes the same hash from the stored
-- `at`. The hash domain is fixed here too (`audit::HASH_DOMAIN`).
DROP FUNCTION audit_append(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TIMESTAMPTZ, TEXT);

CREATE FUNCTION audit_append(
    p_actor_id TEXT, p_actor_organ TEXT, p_action TEXT, p_subject TEXT, p_change_digest TEXT, p_change TEXT
) RETURNS TABLE (chain SMALLINT, seq BIGINT, hash TEXT)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    head audit_chains%ROWTYPE;
    next_seq BIGINT;
    row_hash TEXT;
    v_at TIMESTAMPTZ := clock_timestamp();
    v_at_text TEXT;
BEGIN
    v_at_text := to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    SELECT * INTO head FROM audit_chains c ORDER BY c.chain LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT * INTO head FROM audit_chains c
        WHERE c.chain = floor(random() * (SELECT count(*) FROM audit_chains))::smallint
        FOR UPDATE;
    END IF;
    next_seq := head.seq + 1;
    row_hash := encode(sha256(
        audit_field('yuetan.audit.v1') || audit_field(next_seq::text) || audit_field(v_at_text)
        || audit_field(p_actor_id) || audit_field(p_actor_organ) || audit_field(p_action)
        || audit_field(p_subject) || audit_field(p_change_digest) || audit_field(head.hash)), 'hex');
    -- The guards of migration 0015 let the head move and the row go in only
    -- while this is set; it is transaction-local and cleared again below.
    PERFORM set_config('yuetan.audit_append', 'on', true);
    INSERT INTO audit_log
        (chain, seq, at, actor_id, actor_organ, action, subject, change_digest, change, prev_hash, hash)
    VALUES (head.chain, next_seq, v_at, p_actor_id, p_actor_organ, p_action, p_subject, p_change_digest,
            p_change::json, head.hash, row_hash);
    UPDATE audit_chains c SET seq = next_seq, hash = row_hash WHERE c.chain = head.chain;
    PERFORM set_config('yuetan.audit_append', 'off', true);
    RETURN QUERY SELECT head.chain, next_seq, row_hash;
END;
$$;

-- A SECURITY DEFINER function must not resolve names through a search_path
-- its caller chose: pin it to this schema (migrations run with search_path
-- set to it) and pg_temp last.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION audit_append(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT) SET search_path = %I, pg_temp',
                   current_schema());
END;
$$;

-- Only roles granted EXECUTE (the runtime role, at start) may append.
REVOKE ALL ON FUNCTION audit_append(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT) FROM PUBLIC;

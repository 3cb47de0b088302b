-- The audit append as one function, so it can run as one statement on its
-- own or inside a batch of writes (platform `batch`): take the lowest chain
-- head no other transaction holds (SKIP LOCKED), or wait for a random one
-- when all are held; hash the row (the encoding `verify` recomputes in
-- Rust); insert it; move the head. Returns the row's chain, seq and hash.
CREATE FUNCTION audit_append(
    p_domain TEXT, p_at_text TEXT, p_actor_id TEXT, p_actor_organ TEXT, p_action TEXT,
    p_subject TEXT, p_change_digest TEXT, p_at TIMESTAMPTZ, p_change TEXT
) RETURNS TABLE (chain SMALLINT, seq BIGINT, hash TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    head audit_chains%ROWTYPE;
    next_seq BIGINT;
    row_hash TEXT;
BEGIN
    SELECT * INTO head FROM audit_chains c ORDER BY c.chain LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT * INTO head FROM audit_chains c
        WHERE c.chain = floor(random() * (SELECT count(*) FROM audit_chains))::smallint
        FOR UPDATE;
    END IF;
    next_seq := head.seq + 1;
    row_hash := encode(sha256(
        audit_field(p_domain) || audit_field(next_seq::text) || audit_field(p_at_text)
        || audit_field(p_actor_id) || audit_field(p_actor_organ) || audit_field(p_action)
        || audit_field(p_subject) || audit_field(p_change_digest) || audit_field(head.hash)), 'hex');
    INSERT INTO audit_log
        (chain, seq, at, actor_id, actor_organ, action, subject, change_digest, change, prev_hash, hash)
    VALUES (head.chain, next_seq, p_at, p_actor_id, p_actor_organ, p_action, p_subject, p_change_digest,
            p_change::json, head.hash, row_hash);
    UPDATE audit_chains c SET seq = next_seq, hash = row_hash WHERE c.chain = head.chain;
    RETURN QUERY SELECT head.chain, next_seq, row_hash;
END;
$$;

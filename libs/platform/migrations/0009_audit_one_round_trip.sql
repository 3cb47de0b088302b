-- One round trip per audit append: the row hash is computed by PostgreSQL in
-- the statement that takes the chain head, inserts the row and moves the
-- head (before: read the head, hash in the service, write). The encoding is
-- the one `audit::row_hash` uses and `verify` recomputes in Rust: SHA-256
-- over each field prefixed by its length as 8 big-endian bytes.
CREATE FUNCTION audit_field(value TEXT) RETURNS BYTEA
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT int8send(octet_length(value)::bigint) || convert_to(value, 'UTF8') $$;

-- `change` keeps the exact text the service digested (JSON, not JSONB, which
-- would rewrite it): the digest no longer needs a normalising round trip.
-- Existing rows keep their JSONB text, over which their digest was taken.
ALTER TABLE audit_log ALTER COLUMN change TYPE JSON USING change::json;

-- Transactional outbox (ARCHITECTURE §4): a service writes its events here in
-- the same transaction as its state change; the relay publishes them to
-- JetStream in `seq` order and marks them sent.
CREATE TABLE outbox (
    seq         BIGSERIAL PRIMARY KEY,
    event_id    UUID        NOT NULL UNIQUE,
    event_type  TEXT        NOT NULL,
    subject     TEXT        NOT NULL,
    -- the encoded yuetan.events.v1.Event envelope
    payload     BYTEA       NOT NULL,
    -- NATS headers to send (CloudEvents ce-*, traceparent), name → value
    headers     JSONB       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at     TIMESTAMPTZ,
    attempts    INTEGER     NOT NULL DEFAULT 0,
    last_error  TEXT
);

CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;

-- Wake the relay at commit time (NOTIFY is delivered on commit, never for a
-- rolled-back transaction). One channel per schema: outbox_<schema>.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_' || current_schema(), '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

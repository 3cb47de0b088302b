-- Events a consumer could not apply after max_deliver attempts, with the last
-- error, for operators to inspect and replay. Nothing is silently dropped.
CREATE TABLE dead_letters (
    id           BIGSERIAL PRIMARY KEY,
    consumer     TEXT        NOT NULL,
    event_id     UUID,
    event_type   TEXT,
    subject      TEXT        NOT NULL,
    stream_seq   BIGINT      NOT NULL,
    deliveries   BIGINT      NOT NULL,
    error        TEXT        NOT NULL,
    payload      BYTEA       NOT NULL,
    headers      JSONB       NOT NULL,
    failed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (consumer, stream_seq)
);

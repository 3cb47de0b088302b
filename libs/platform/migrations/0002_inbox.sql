-- Inbox (ARCHITECTURE §4): a consumer's handler transaction first records the
-- event id here; a second delivery of the same event finds it and is skipped.
CREATE TABLE inbox (
    consumer     TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    event_type   TEXT        NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

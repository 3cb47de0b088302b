-- The consumer runner's own count of an event's attempts (platform
-- `consumer`), per consumer and stream message. JetStream's delivery count
-- cannot tell a failed handler from a redelivery after a crash or an event
-- waiting for its predecessor, so the runner counts here:
--   failures       real handler failures; at consumer.max_deliver the
--                  event is dead-lettered;
--   waits          deliveries the ordering guard sent back because the
--                  case's previous version had not been applied;
--   waiting_since  the first of those; past consumer.order_horizon_secs the
--                  event is dead-lettered naming the missing version.
-- A row exists only while an event is being retried; it goes when the
-- event is applied, skipped as a duplicate, or dead-lettered.
CREATE TABLE consumer_retries (
    consumer       TEXT        NOT NULL,
    stream_seq     BIGINT      NOT NULL,
    event_id       UUID,
    failures       INT         NOT NULL DEFAULT 0,
    waits          INT         NOT NULL DEFAULT 0,
    waiting_since  TIMESTAMPTZ,
    last_error     TEXT        NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, stream_seq)
);

-- Dead letters an operator can see and replay (`yuetan deadletter`):
--   kind                 failed | waited | undecodable
--   replay_requested_at  set by `yuetan deadletter replay`; the running
--                        consumer applies the event through its inbox and
--                        clears it;
--   resolved_at, resolution  when and how it was settled ("applied",
--                        "already applied"); an unresolved row counts in
--                        the status and the periodic warning.
ALTER TABLE dead_letters
    ADD COLUMN kind                TEXT NOT NULL DEFAULT 'failed',
    ADD COLUMN replay_requested_at TIMESTAMPTZ,
    ADD COLUMN resolved_at         TIMESTAMPTZ,
    ADD COLUMN resolution          TEXT;

CREATE INDEX dead_letters_open ON dead_letters (consumer, failed_at) WHERE resolved_at IS NULL;
CREATE INDEX dead_letters_replay ON dead_letters (consumer, id)
    WHERE replay_requested_at IS NOT NULL AND resolved_at IS NULL;

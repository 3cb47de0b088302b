-- Durable timers (ARCHITECTURE §5): every legal time limit is a row here. The
-- sweeper claims due rows with FOR UPDATE SKIP LOCKED, so replicas share the
-- work, and marks a timer fired in the same transaction as its handler's
-- effect, so a timer fires exactly once and a crash loses nothing.
CREATE TABLE timers (
    id            UUID        PRIMARY KEY,
    kind          TEXT        NOT NULL,
    -- what the timer is about (a case id, a task id); (kind, key) is unique
    key           TEXT        NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    payload       JSONB       NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    fired_at      TIMESTAMPTZ,
    cancelled_at  TIMESTAMPTZ,
    attempts      INTEGER     NOT NULL DEFAULT 0,
    last_error    TEXT,
    UNIQUE (kind, key)
);

CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;

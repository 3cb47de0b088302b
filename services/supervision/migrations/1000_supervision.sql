-- Supervision's own tables (schema `supervision`). Versions from 1000.

-- A deadline card (R-SUP-3): one per step and subject.
CREATE TABLE cards (
    id          UUID PRIMARY KEY,
    step        TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    case_id     UUID,
    division    TEXT NOT NULL,
    organ       TEXT NOT NULL,
    section     TEXT NOT NULL DEFAULT '',
    opened_on   DATE NOT NULL,
    deadline    DATE NOT NULL,
    -- green, yellow, red
    colour      TEXT NOT NULL,
    closed      BOOLEAN NOT NULL DEFAULT false,
    changed_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (step, subject_id)
);
CREATE INDEX cards_division ON cards (division, closed, colour);

-- Client request ids (platform `requests`), as in the other services.
CREATE TABLE requests (
    officer_id  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    method      TEXT NOT NULL,
    digest      BYTEA NOT NULL,
    response    BYTEA,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (officer_id, request_id)
);

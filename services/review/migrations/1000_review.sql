-- Review's own tables (schema `review`). Versions from 1000; the platform's
-- (outbox, inbox, event_order, dead_letters, timers, audit) are below.

-- What review knows of a case, from intake's events (case_opened,
-- case_submitted, case_resubmitted). `version` is review's own event
-- sequence for the case (the envelope's case_version of review.* events).
CREATE TABLE cases (
    case_id         UUID PRIMARY KEY,
    number          TEXT NOT NULL DEFAULT '',
    division        TEXT NOT NULL,
    lead_organ      TEXT NOT NULL,
    co_departments  TEXT[] NOT NULL DEFAULT '{}',
    major           BOOLEAN NOT NULL DEFAULT false,
    proposed_by     TEXT NOT NULL DEFAULT '',
    party_name      TEXT NOT NULL DEFAULT '',
    violation_type  TEXT NOT NULL DEFAULT '',
    -- awaiting_submission, in_review, returned_for_supplement, rejected,
    -- in_approval, approved, denied
    status          TEXT NOT NULL,
    version         BIGINT NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- A task: one legality-review round, the approval, or a document review.
CREATE TABLE tasks (
    id                  UUID PRIMARY KEY,
    case_id             UUID NOT NULL,
    -- legality_review, approval, document_review
    kind                TEXT NOT NULL,
    round               INTEGER NOT NULL,
    -- open, decided
    status              TEXT NOT NULL,
    organ               TEXT NOT NULL,
    division            TEXT NOT NULL,
    role                TEXT NOT NULL,
    major               BOOLEAN NOT NULL,
    proposed_by         TEXT NOT NULL DEFAULT '',
    opened_on           DATE NOT NULL,
    limit_days          INTEGER NOT NULL,
    deadline            DATE NOT NULL,
    deadline_missed     BOOLEAN NOT NULL DEFAULT false,
    extended            BOOLEAN NOT NULL DEFAULT false,
    extension_reason    TEXT NOT NULL DEFAULT '',
    decision            TEXT NOT NULL DEFAULT '',
    decided_by          TEXT NOT NULL DEFAULT '',
    decided_at          TIMESTAMPTZ,
    opinion             TEXT NOT NULL DEFAULT '',
    missing             TEXT NOT NULL DEFAULT '',
    checklist           JSONB NOT NULL DEFAULT '[]',
    collective          JSONB,
    proposal            TEXT NOT NULL DEFAULT '',
    supplement          TEXT NOT NULL DEFAULT '',
    -- document reviews: the document, as the requesting event named it
    document            JSONB,
    created_at          TIMESTAMPTZ NOT NULL
);
-- One legality round per submission, one approval per case, one task per
-- document revision: a redelivered event cannot open a second task.
CREATE UNIQUE INDEX tasks_round ON tasks (case_id, kind, round) WHERE kind <> 'document_review';
CREATE UNIQUE INDEX tasks_document ON tasks ((document->>'source_service'), (document->>'document_id'), round)
    WHERE kind = 'document_review';
-- A queue: the open tasks of an organ, nearest deadline first.
CREATE INDEX tasks_queue ON tasks (organ, deadline, id) WHERE status = 'open';
CREATE INDEX tasks_case ON tasks (case_id, created_at);

-- Client request ids (platform `requests`).
CREATE TABLE requests (
    officer_id  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    method      TEXT NOT NULL,
    digest      BYTEA NOT NULL,
    response    BYTEA,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (officer_id, request_id)
);

-- Rectification's own tables (schema `rectification`). Versions from 1000;
-- the platform's (outbox, inbox, timers, audit, requests…) are below.

-- What rectification knows of a case (intake.case_opened).
CREATE TABLE cases (
    case_id        UUID PRIMARY KEY,
    number         TEXT NOT NULL DEFAULT '',
    division       TEXT NOT NULL,
    lead_organ     TEXT NOT NULL,
    organ_name     TEXT NOT NULL DEFAULT '',
    document_code  TEXT NOT NULL DEFAULT '',
    co_departments TEXT[] NOT NULL DEFAULT '{}',
    party_id       TEXT NOT NULL DEFAULT '',
    party_name     TEXT NOT NULL DEFAULT '',
    version        BIGINT NOT NULL DEFAULT 0,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- The newest signed interview record of a case (scheduling.record_signed).
CREATE TABLE record_refs (
    case_id    UUID PRIMARY KEY,
    record_id  TEXT NOT NULL,
    number     TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    version    INTEGER NOT NULL
);

-- One rectification per case, opened on scheduling.interview_held.
CREATE TABLE rectifications (
    id                     UUID PRIMARY KEY,
    case_id                UUID NOT NULL UNIQUE REFERENCES cases (case_id),
    interview_id           TEXT NOT NULL,
    organ                  TEXT NOT NULL,
    division               TEXT NOT NULL,
    -- open, reported, accepted, failed, handed_off
    status                 TEXT NOT NULL,
    tracker                TEXT NOT NULL,
    cadence_days           INTEGER NOT NULL,
    items                  JSONB NOT NULL,
    provisions             TEXT[] NOT NULL DEFAULT '{}',
    deadline               DATE NOT NULL,
    report_due             DATE NOT NULL,
    notice_document_id     UUID,
    report_channel         TEXT NOT NULL DEFAULT '',
    report_received_at     TIMESTAMPTZ,
    -- the party's words (personal data), sealed with the PII key
    report_text_sealed     BYTEA,
    report_attachments     TEXT[] NOT NULL DEFAULT '{}',
    report_late            BOOLEAN NOT NULL DEFAULT false,
    acceptance_due         DATE,
    extension_requested    BOOLEAN NOT NULL DEFAULT false,
    extension_reason       TEXT NOT NULL DEFAULT '',
    extension_new_deadline DATE,
    extension_decision     TEXT NOT NULL DEFAULT '',
    certificate_document_id UUID,
    penalty_draft_document_id UUID,
    follow_up_overdue      BOOLEAN NOT NULL DEFAULT false,
    last_entry_on          DATE,
    reinspect_on           DATE,
    reinspection           TEXT NOT NULL DEFAULT '',
    follow_up              TEXT NOT NULL DEFAULT '',
    version                BIGINT NOT NULL DEFAULT 1,
    updated_at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX rectifications_tracker ON rectifications (tracker, status, deadline);
CREATE INDEX rectifications_organ ON rectifications (organ, status, deadline);

-- One acceptance officer's answers (R-RECT-4); the same officer twice counts once.
CREATE TABLE answers (
    rectification_id UUID NOT NULL REFERENCES rectifications (id),
    officer_id       TEXT NOT NULL,
    complete         BOOLEAN NOT NULL,
    lawful           BOOLEAN NOT NULL,
    goal_reached     BOOLEAN NOT NULL,
    comments         TEXT NOT NULL DEFAULT '',
    evidence         TEXT[] NOT NULL DEFAULT '{}',
    answered_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rectification_id, officer_id)
);

-- The tracking ledger (整改跟踪台账, R-RECT-2).
CREATE TABLE ledger (
    id               UUID PRIMARY KEY,
    rectification_id UUID NOT NULL REFERENCES rectifications (id),
    case_id          UUID NOT NULL,
    method           TEXT NOT NULL,
    entry_on         DATE NOT NULL,
    officer_id       TEXT NOT NULL,
    organ            TEXT NOT NULL,
    progress         TEXT NOT NULL,
    problems         TEXT NOT NULL DEFAULT '',
    measures         TEXT NOT NULL DEFAULT '',
    attachments      TEXT[] NOT NULL DEFAULT '{}',
    recorded_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX ledger_rectification ON ledger (rectification_id, entry_on);

-- Document number sequences (R-DOC-2), as in the other services.
CREATE TABLE document_counters (
    organ  TEXT    NOT NULL,
    kind   TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL CHECK (last > 0),
    PRIMARY KEY (organ, kind, year)
);

-- Rectification's documents: the notice, the acceptance opinion and
-- certificate, the draft prior notice of penalty.
CREATE TABLE documents (
    id              UUID PRIMARY KEY,
    case_id         UUID NOT NULL,
    kind            TEXT NOT NULL,
    title           TEXT NOT NULL,
    number          TEXT NOT NULL,
    organ           TEXT NOT NULL,
    division        TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    pages           INTEGER NOT NULL DEFAULT 1,
    revision        INTEGER NOT NULL DEFAULT 1,
    -- in_review, returned, sealed, issued
    status          TEXT NOT NULL,
    seal_signature  TEXT NOT NULL DEFAULT '',
    seal_key_id     TEXT NOT NULL DEFAULT '',
    sealed_at       TIMESTAMPTZ,
    issued_by       TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX documents_case ON documents (case_id);

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

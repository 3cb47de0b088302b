-- Scheduling's own tables (schema `scheduling`). Versions from 1000; the
-- platform's (outbox, inbox, event_order, dead_letters, timers, audit,
-- requests) are below.

-- What scheduling knows of a case: from intake.case_opened, then
-- review.case_approved. `version` is scheduling's own event sequence.
CREATE TABLE cases (
    case_id         UUID PRIMARY KEY,
    number          TEXT NOT NULL DEFAULT '',
    division        TEXT NOT NULL,
    lead_organ      TEXT NOT NULL,
    organ_name      TEXT NOT NULL DEFAULT '',
    document_code   TEXT NOT NULL DEFAULT '',
    co_departments  TEXT[] NOT NULL DEFAULT '{}',
    major           BOOLEAN NOT NULL DEFAULT false,
    urgent          BOOLEAN NOT NULL DEFAULT false,
    party_id        TEXT NOT NULL DEFAULT '',
    party_name      TEXT NOT NULL DEFAULT '',
    violation_type  TEXT NOT NULL DEFAULT '',
    version         BIGINT NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- The officer directory (R-INT-1 qualifications).
CREATE TABLE officers (
    officer_id               TEXT PRIMARY KEY,
    name                     TEXT NOT NULL,
    organ                    TEXT NOT NULL,
    division                 TEXT NOT NULL,
    certificate_number       TEXT NOT NULL,
    certificate_valid_until  DATE NOT NULL,
    experience_since         DATE NOT NULL,
    interviewer_certified_on DATE,
    legal_review_qualified   BOOLEAN NOT NULL DEFAULT false,
    active                   BOOLEAN NOT NULL DEFAULT true,
    version                  BIGINT NOT NULL DEFAULT 1,
    updated_at               TIMESTAMPTZ NOT NULL
);
CREATE INDEX officers_organ ON officers (organ);

-- One interview plan per case, opened on approval.
CREATE TABLE plans (
    id                     UUID PRIMARY KEY,
    case_id                UUID NOT NULL UNIQUE REFERENCES cases (case_id),
    -- open, planned, notice_in_review, notice_returned, serving, served, reschedule_needed
    status                 TEXT NOT NULL,
    approved_on            DATE NOT NULL,
    notice_deadline        DATE NOT NULL,
    notice_deadline_missed BOOLEAN NOT NULL DEFAULT false,
    interview_at           TIMESTAMPTZ,
    mode                   TEXT NOT NULL DEFAULT '',
    place                  TEXT NOT NULL DEFAULT '',
    interviewers           TEXT[] NOT NULL DEFAULT '{}',
    recorder               TEXT NOT NULL DEFAULT '',
    experts                JSONB NOT NULL DEFAULT '[]',
    co_participants        JSONB NOT NULL DEFAULT '[]',
    materials              TEXT[] NOT NULL DEFAULT '{}',
    contact                TEXT NOT NULL DEFAULT '',
    matter                 TEXT NOT NULL DEFAULT '',
    legal_basis            TEXT NOT NULL DEFAULT '',
    notice_document_id     UUID,
    served_at              TIMESTAMPTZ,
    reschedule_requested   BOOLEAN NOT NULL DEFAULT false,
    reschedule_reason      TEXT NOT NULL DEFAULT '',
    organ                  TEXT NOT NULL,
    division               TEXT NOT NULL,
    version                BIGINT NOT NULL DEFAULT 1,
    updated_at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX plans_organ_deadline ON plans (organ, notice_deadline);

-- Who and which room is taken when: one row per interviewer, recorder and
-- room of a plan. Double booking is refused under advisory locks per
-- resource (flow.rs), so two concurrent plans cannot both take one slot.
CREATE TABLE bookings (
    plan_id   UUID NOT NULL REFERENCES plans (id),
    -- "officer:<id>" or "room:<organ>:<place>"
    resource  TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (plan_id, resource)
);
CREATE INDEX bookings_resource ON bookings (resource, starts_at);

-- The party's signed address-confirmation (送达地址确认书) for a case:
-- addresses sealed with the PII key; masks for display.
CREATE TABLE addresses (
    case_id              UUID PRIMARY KEY REFERENCES cases (case_id),
    channels             TEXT[] NOT NULL,
    sms_sealed           BYTEA,
    email_sealed         BYTEA,
    egov_sealed          BYTEA,
    postal_sealed        BYTEA,
    masks                JSONB NOT NULL DEFAULT '{}',
    confirmation_sha256  TEXT NOT NULL DEFAULT '',
    signed_on            DATE,
    recorded_by          TEXT NOT NULL,
    recorded_at          TIMESTAMPTZ NOT NULL
);

-- Document number sequences (R-DOC-2), as in intake.
CREATE TABLE document_counters (
    organ  TEXT    NOT NULL,
    kind   TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL CHECK (last > 0),
    PRIMARY KEY (organ, kind, year)
);

-- Scheduling's documents: the interview notice and delivery receipts.
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
    -- in_review, returned, sealed
    status          TEXT NOT NULL,
    seal_signature  TEXT NOT NULL DEFAULT '',
    seal_key_id     TEXT NOT NULL DEFAULT '',
    sealed_at       TIMESTAMPTZ,
    issued_by       TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (organ, number, revision)
);
CREATE INDEX documents_sha256 ON documents (sha256);
CREATE INDEX documents_case ON documents (case_id);

-- One service (送达) of one document to the party of a case.
CREATE TABLE services (
    id                  UUID PRIMARY KEY,
    case_id             UUID NOT NULL,
    document_id         TEXT NOT NULL,
    document_sha256     TEXT NOT NULL,
    document_name       TEXT NOT NULL,
    document_number     TEXT NOT NULL,
    document_kind       TEXT NOT NULL,
    source_service      TEXT NOT NULL,
    organ               TEXT NOT NULL,
    division            TEXT NOT NULL,
    -- the channels to try, in order; `step` indexes the current one
    plan                TEXT[] NOT NULL,
    step                INTEGER NOT NULL DEFAULT 0,
    -- in_progress, awaiting_officer, served
    status              TEXT NOT NULL,
    served_at           TIMESTAMPTZ,
    served_by           TEXT NOT NULL DEFAULT '',
    evidence            TEXT NOT NULL DEFAULT '',
    evidence_sealed     BYTEA,
    receipt_document_id UUID,
    receipt_number      TEXT NOT NULL DEFAULT '',
    requested_by        TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX services_case ON services (case_id);
CREATE INDEX services_open ON services (organ, status, created_at);

-- One try of one channel. Its id is the idempotency key the provider sees
-- (SMS OutId, e-gov msgId, e-mail Message-ID).
CREATE TABLE attempts (
    id              UUID PRIMARY KEY,
    service_id      UUID NOT NULL REFERENCES services (id),
    channel         TEXT NOT NULL,
    address_sealed  BYTEA,
    address_masked  TEXT NOT NULL DEFAULT '',
    -- queued, sent, delivered, failed
    status          TEXT NOT NULL,
    sent_at         TIMESTAMPTZ,
    provider_id     TEXT NOT NULL DEFAULT '',
    reply           TEXT NOT NULL DEFAULT '',
    failure         TEXT NOT NULL DEFAULT '',
    arrived_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX attempts_service ON attempts (service_id);
CREATE INDEX attempts_provider ON attempts (provider_id) WHERE provider_id <> '';

-- Client request ids (platform `requests`), as in intake and review.
CREATE TABLE requests (
    officer_id  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    method      TEXT NOT NULL,
    digest      BYTEA NOT NULL,
    response    BYTEA,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (officer_id, request_id)
);

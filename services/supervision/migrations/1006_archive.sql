-- The archive (issue 13, R-DOC-3, R-DOC-4): one file, one archive.

-- Every document, evidence file and recording the events of a file name
-- (from every service), in the order they were produced; assembled into
-- the archive's manifest. One row per object of a file.
CREATE TABLE file_documents (
    file_id        UUID NOT NULL,
    sha256         TEXT NOT NULL,
    -- interview_notice, delivery_receipt, interview_record, recording,
    -- evidence, rectification_notice, acceptance_certificate, attachment…
    kind           TEXT NOT NULL,
    title          TEXT NOT NULL DEFAULT '',
    number         TEXT NOT NULL DEFAULT '',
    service        TEXT NOT NULL,
    produced_at    TIMESTAMPTZ NOT NULL,
    event_id       UUID NOT NULL,
    -- Evidence and recordings: listed and hashed; their bytes go into the
    -- archive only when the object store has them.
    reference_only BOOLEAN NOT NULL DEFAULT false,
    -- A recording's path where it is kept.
    reference      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (file_id, sha256)
);
CREATE INDEX file_documents_sha256 ON file_documents (sha256);

-- What the archive needs of a file that `files` does not keep: the
-- violation type (R-DOC-4's livelihood class), the organ's and the party's names.
CREATE TABLE file_facts (
    file_id        UUID PRIMARY KEY,
    violation_type TEXT NOT NULL DEFAULT '',
    organ_name     TEXT NOT NULL DEFAULT '',
    party_name     TEXT NOT NULL DEFAULT ''
);

-- One row per closed file: closed → archived → destroyed.
CREATE TABLE archives (
    file_id                   UUID PRIMARY KEY,
    case_id                   UUID,
    number                    TEXT NOT NULL DEFAULT '',
    division                  TEXT NOT NULL,
    organ                     TEXT NOT NULL,
    section                   TEXT NOT NULL DEFAULT '',
    outcome                   TEXT NOT NULL DEFAULT '',
    closed_on                 DATE NOT NULL,
    -- R-DOC-3: 10 working days after closing.
    archive_due               DATE NOT NULL,
    status                    TEXT NOT NULL CHECK (status IN ('closed', 'archived', 'destroyed')),
    -- R-DOC-4: ordinary (5 years), major (10), livelihood (permanent: no retain_until).
    retention_class           TEXT NOT NULL CHECK (retention_class IN ('ordinary', 'major', 'livelihood')),
    retain_until              DATE,
    violation_type            TEXT NOT NULL DEFAULT '',
    archived_at               TIMESTAMPTZ,
    timely                    BOOLEAN,
    manifest_sha256           TEXT,
    signature                 TEXT,
    key_id                    TEXT,
    documents                 INTEGER NOT NULL DEFAULT 0,
    paper_location            TEXT,
    paper_box                 TEXT,
    paper_on                  DATE,
    paper_by                  TEXT,
    paper_timely              BOOLEAN,
    approval_id               UUID,
    approval_meeting_on       DATE,
    approval_attendees        TEXT[],
    approval_minutes          TEXT,
    approved_by               TEXT,
    destroyed_on              DATE,
    destroyed_by              TEXT[],
    destruction_record_sha256 TEXT,
    updated_at                TIMESTAMPTZ NOT NULL
);
CREATE INDEX archives_case ON archives (case_id) WHERE case_id IS NOT NULL;
CREATE INDEX archives_division ON archives (division, status, closed_on);

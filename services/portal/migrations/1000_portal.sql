-- The portal's own tables (schema `portal`). Every row is written in the
-- transaction of the outbox event that announces it (docs/portal.md).
-- Client address and user agent are personal data: stored only sealed
-- (PiiVault, context "portal.evidence").

-- The first open of each signed link (page or file).
CREATE TABLE link_opens (
    link_id          UUID PRIMARY KEY,
    service_id       TEXT NOT NULL,
    document_sha256  TEXT NOT NULL,
    organ            TEXT NOT NULL,
    opened_at        TIMESTAMPTZ NOT NULL,
    evidence_sealed  BYTEA NOT NULL
);

-- The party's confirmation of receipt (确认收到), once per link.
CREATE TABLE receipts (
    link_id          UUID PRIMARY KEY,
    service_id       TEXT NOT NULL,
    document_sha256  TEXT NOT NULL,
    organ            TEXT NOT NULL,
    confirmed_at     TIMESTAMPTZ NOT NULL,
    evidence_sealed  BYTEA NOT NULL
);

-- SMS delivery reports; the same report twice is kept once. The report as
-- received (it holds the phone number) is kept sealed as evidence.
CREATE TABLE sms_reports (
    id             BIGSERIAL PRIMARY KEY,
    out_id         TEXT NOT NULL,
    biz_id         TEXT NOT NULL,
    success        BOOLEAN NOT NULL,
    report_time    TEXT NOT NULL,
    err_code       TEXT NOT NULL,
    received_at    TIMESTAMPTZ NOT NULL,
    report_sealed  BYTEA NOT NULL,
    UNIQUE (out_id, biz_id, success, report_time)
);

-- E-government platform acknowledgements; the same one twice is kept once.
CREATE TABLE egov_acks (
    id            BIGSERIAL PRIMARY KEY,
    msg_id        TEXT NOT NULL,
    receipt_id    TEXT NOT NULL,
    status        TEXT NOT NULL,
    delivered_at  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (msg_id, receipt_id, status, delivered_at)
);

-- The party's rectification reports (整改报告, DOMAIN R-RECT-3), submitted
-- through a signed link of purpose `report` (POST /r/{token}); one per link:
-- the primary key is the guard against a second submission. Written in the
-- transaction of its `portal.report_submitted` event and its audit row.
-- The text and the evidence (client address, user agent) are personal data:
-- stored only sealed (PiiVault, contexts "portal.report" and
-- "portal.evidence"). The attachments are in the object store, by SHA-256.
CREATE TABLE reports (
    link_id            UUID PRIMARY KEY,
    rectification_id   TEXT NOT NULL,
    notice_sha256      TEXT NOT NULL,
    organ              TEXT NOT NULL,
    submitted_at       TIMESTAMPTZ NOT NULL,
    attachment_sha256  TEXT[] NOT NULL,
    text_sealed        BYTEA NOT NULL,
    evidence_sealed    BYTEA NOT NULL
);

-- The party's complaints against officers (DOMAIN R-SUP-6), submitted
-- through its `rate` link (POST /rate/{token}/complaint); one per link.
-- Written with its `portal.complaint_submitted` event and audit row; the
-- case and the description travel only in the event, sealed.
CREATE TABLE party_complaints (
    link_id       UUID PRIMARY KEY,
    organ         TEXT NOT NULL,
    submitted_at  TIMESTAMPTZ NOT NULL
);

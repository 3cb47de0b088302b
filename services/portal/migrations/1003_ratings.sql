-- The party's ratings of the interview (DOMAIN R-SUP-4), submitted through a
-- signed link of purpose `rate` (POST /rate/{token}); one per link: the
-- primary key is the guard against a second submission. Written in the
-- transaction of its `portal.rating_submitted` event and its audit row.
-- Nothing here names the case or the party, and the marks and comment are
-- not kept: they travel only in the event (the case and comment sealed,
-- PiiVault context "portal.rating").
CREATE TABLE ratings (
    link_id       UUID PRIMARY KEY,
    organ         TEXT NOT NULL,
    submitted_at  TIMESTAMPTZ NOT NULL
);

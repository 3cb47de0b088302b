-- Relief (issue 13, R-RELIEF-2): reconsideration applications and lawsuits
-- about a case, told by outside systems (relief.* events or RegisterRelief).
-- One row per (source, relief_id): a relief delivered twice marks once.
CREATE TABLE reliefs (
    id          UUID PRIMARY KEY,
    source      TEXT NOT NULL,
    relief_id   TEXT NOT NULL,
    case_id     UUID NOT NULL,
    file_id     UUID NOT NULL,
    division    TEXT NOT NULL,
    organ       TEXT NOT NULL,
    -- reconsideration, litigation
    kind        TEXT NOT NULL CHECK (kind IN ('reconsideration', 'litigation')),
    body        TEXT NOT NULL DEFAULT '',
    received_on DATE NOT NULL,
    reply_due   DATE NOT NULL,
    replied_on  DATE,
    -- upheld, revoked, changed, confirmed_unlawful, settled
    outcome     TEXT,
    decided_on  DATE,
    marked_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (source, relief_id)
);
CREATE INDEX reliefs_case ON reliefs (case_id);

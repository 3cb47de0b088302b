-- Relief (issue 13, R-RELIEF-2): reconsideration applications and lawsuits
-- about a case, told by outside systems (relief.* events or RegisterRelief).
-- One row per (source, relief_id): a relief delivered twice marks once.
CREATE TABLE reliefs (
    -- Derived from (source, relief_id), so a rebuild gives the same id; it is
    -- the subject of the reply card and the key of the overdue timer.
    id          UUID PRIMARY KEY,
    source      TEXT NOT NULL,
    relief_id   TEXT NOT NULL,
    case_id     UUID NOT NULL,
    file_id     UUID NOT NULL,
    division    TEXT NOT NULL,
    organ       TEXT NOT NULL,
    section     TEXT NOT NULL DEFAULT '',
    -- reconsideration, litigation
    kind        TEXT NOT NULL CHECK (kind IN ('reconsideration', 'litigation')),
    -- The reconsideration organ or the court.
    body        TEXT NOT NULL DEFAULT '',
    -- The outside system's summary (may name people): sealed with the PII key.
    summary_sealed BYTEA,
    -- The day the party applied (reconsideration), when told.
    applied_on  DATE,
    received_on DATE NOT NULL,
    reply_due   DATE NOT NULL,
    replied_on  DATE,
    -- upheld, revoked, changed, confirmed_unlawful, settled
    outcome     TEXT CHECK (outcome IN ('upheld', 'revoked', 'changed', 'confirmed_unlawful', 'settled')),
    decided_on  DATE,
    -- Who told: the caller of RegisterRelief or the event's actor.
    marked_by   TEXT NOT NULL DEFAULT '',
    marked_at   TIMESTAMPTZ NOT NULL,
    -- When supervision.relief_reply_overdue was published (once).
    overdue_at  TIMESTAMPTZ,
    UNIQUE (source, relief_id)
);
CREATE INDEX reliefs_case ON reliefs (case_id);

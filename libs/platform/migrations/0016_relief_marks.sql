-- The relief marks (platform `relief`, R-RELIEF-2): every service that
-- shows cases keeps the reliefs about them (supervision.relief_marked,
-- relief.decided) to show "under relief" and the reply due on its reads.
-- received_on and reply_due are empty while only the decision is known.
CREATE TABLE relief_marks (
    case_id     UUID NOT NULL,
    relief_id   TEXT NOT NULL,
    -- reconsideration, litigation
    kind        TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL DEFAULT '',
    received_on DATE,
    reply_due   DATE,
    -- upheld, revoked, changed, confirmed_unlawful, settled
    outcome     TEXT,
    decided_on  DATE,
    PRIMARY KEY (case_id, relief_id)
);

-- Supervision's read model (issue 12). Everything here is rebuilt from the
-- stream by `yuetan supervision rebuild` (supervision's own decisions —
-- roll-ups, draws, scores, ratings, complaints — travel in its own events).

ALTER TABLE cards ADD COLUMN met BOOLEAN;
CREATE INDEX cards_case ON cards (case_id) WHERE case_id IS NOT NULL;

-- One file per clue (its id is the clue id) and, once verified, its case.
CREATE TABLE files (
    id           UUID PRIMARY KEY,
    case_id      UUID UNIQUE,
    number       TEXT NOT NULL DEFAULT '',
    division     TEXT NOT NULL,
    organ        TEXT NOT NULL,
    section      TEXT NOT NULL DEFAULT '',
    urgent       BOOLEAN NOT NULL DEFAULT false,
    major        BOOLEAN NOT NULL DEFAULT false,
    -- clue, preparing, review, approval, scheduling, interview,
    -- rectification, acceptance, closed
    stage        TEXT NOT NULL,
    -- accepted, penalty, excluded, rejected, denied, refused, transferred
    outcome      TEXT,
    received_on  DATE,
    opened_on    DATE NOT NULL,
    approved_on  DATE,
    closed_on    DATE,
    interviewers TEXT[] NOT NULL DEFAULT '{}',
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX files_opened ON files (opened_on, division);
CREATE INDEX files_closed ON files (closed_on, division, section) WHERE closed_on IS NOT NULL;

-- The case timeline: one row per event of the file, from every service.
CREATE TABLE timeline (
    event_id    UUID PRIMARY KEY,
    file_id     UUID NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    event_type  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    actor_name  TEXT NOT NULL DEFAULT '',
    summary     TEXT NOT NULL,
    deadline    DATE,
    met         BOOLEAN
);
CREATE INDEX timeline_file ON timeline (file_id, occurred_at, event_id);

-- Counters of the board: per division, section, month (first day; the
-- live gauges — open cases by stage, open cards by colour — use
-- 1970-01-01) and metric. Writers append deltas (no hot rows, no lock
-- order between lanes); one folder moves them into `tallies`.
CREATE TABLE tallies (
    division TEXT NOT NULL,
    section  TEXT NOT NULL,
    month    DATE NOT NULL,
    metric   TEXT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (division, section, month, metric)
);
CREATE TABLE tally_deltas (
    id       BIGSERIAL PRIMARY KEY,
    division TEXT NOT NULL,
    section  TEXT NOT NULL,
    month    DATE NOT NULL,
    metric   TEXT NOT NULL,
    n        BIGINT NOT NULL
);

-- The daily roll-up: one line per division and day, and the day's digest.
CREATE TABLE rollups (
    day      DATE NOT NULL,
    division TEXT NOT NULL,
    line     JSONB NOT NULL,
    PRIMARY KEY (day, division)
);
CREATE TABLE rollup_days (
    day     DATE PRIMARY KEY,
    digest  TEXT NOT NULL,
    made_at TIMESTAMPTZ NOT NULL
);

-- Per section and year: the run of red cards (R-SUP-3) and the award flag.
CREATE TABLE section_years (
    division   TEXT NOT NULL,
    section    TEXT NOT NULL,
    year       INT NOT NULL,
    red_run    INT NOT NULL DEFAULT 0,
    award_lost BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (division, section, year)
);
-- R-SUP-2: a section warned for a month (below baseline two months running).
CREATE TABLE warnings (
    division TEXT NOT NULL,
    section  TEXT NOT NULL,
    month    TEXT NOT NULL,
    scores   DOUBLE PRECISION[] NOT NULL,
    baseline DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (division, section, month)
);

-- R-SUP-1: the month's draw per section, and the scores of its files.
CREATE TABLE samples (
    id              UUID PRIMARY KEY,
    division        TEXT NOT NULL,
    section         TEXT NOT NULL,
    month           TEXT NOT NULL,
    seed            TEXT NOT NULL,
    previous_digest TEXT NOT NULL,
    population      INT NOT NULL,
    percent         INT NOT NULL,
    drawn_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (division, section, month)
);
CREATE TABLE sampled_files (
    sample_id          UUID NOT NULL REFERENCES samples (id),
    case_id            UUID NOT NULL,
    number             TEXT NOT NULL DEFAULT '',
    scored             BOOLEAN NOT NULL DEFAULT false,
    lawful_start       INT,
    standard_documents INT,
    timely_tracking    INT,
    comment            TEXT,
    scored_by          TEXT,
    PRIMARY KEY (sample_id, case_id)
);

-- R-SUP-4: return visits, a quarter's 10% of closed cases.
CREATE TABLE return_visits (
    id          UUID PRIMARY KEY,
    division    TEXT NOT NULL,
    section     TEXT NOT NULL,
    quarter     TEXT NOT NULL,
    case_id     UUID NOT NULL,
    number      TEXT NOT NULL DEFAULT '',
    assigned_to TEXT NOT NULL,
    done        BOOLEAN NOT NULL DEFAULT false,
    method      TEXT,
    outcome     TEXT,
    visited_on  DATE,
    UNIQUE (quarter, case_id)
);

-- R-SUP-4: ratings. No party, no case in the clear: the case id is sealed
-- and opened only for the provincial discipline inspector.
CREATE TABLE ratings (
    id              UUID PRIMARY KEY,
    division        TEXT NOT NULL,
    section         TEXT NOT NULL,
    month           TEXT NOT NULL,
    interviewers    TEXT[] NOT NULL,
    attitude        INT NOT NULL,
    professionalism INT NOT NULL,
    communication   INT NOT NULL,
    comment_sealed  BYTEA,
    case_sealed     BYTEA NOT NULL
);
CREATE INDEX ratings_division ON ratings (division, month);

-- R-SUP-6: complaints against officers.
CREATE TABLE complaints (
    id                     UUID PRIMARY KEY,
    division               TEXT NOT NULL,
    organ                  TEXT NOT NULL,
    section                TEXT NOT NULL,
    officer_id             TEXT NOT NULL,
    case_id                UUID,
    kind                   TEXT NOT NULL,
    description_sealed     BYTEA NOT NULL,
    source                 TEXT NOT NULL,
    status                 TEXT NOT NULL,
    registered_by          TEXT NOT NULL,
    registered_on          DATE NOT NULL,
    investigation_deadline DATE NOT NULL,
    started_on             DATE,
    decision               TEXT,
    reasons                TEXT,
    decided_by             TEXT,
    decided_on             DATE,
    appeal_deadline        DATE,
    appeal_reasons         TEXT,
    appealed_on            DATE
);
CREATE INDEX complaints_division ON complaints (division, status);

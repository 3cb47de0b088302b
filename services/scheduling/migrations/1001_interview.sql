-- The interview (R-INT-1..5) and its record (R-INT-4), and video rooms (R-INT-2).

-- A video interview's room on the video server. The room id is chosen here,
-- in the plan's transaction, before the server is asked (the
-- `scheduling.video_room` timer creates it; a retry adopts the room the
-- server already has). The room's secret, PIN and tokens are derived from
-- the provider's key and the id, never stored.
CREATE TABLE video_rooms (
    room_id       BIGINT PRIMARY KEY,
    case_id       UUID NOT NULL REFERENCES cases (case_id),
    provider      TEXT NOT NULL,
    -- creating, open, closing, closed
    status        TEXT NOT NULL,
    participants  JSONB NOT NULL,
    recordings    JSONB NOT NULL DEFAULT '[]',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX video_rooms_case ON video_rooms (case_id);

-- Who was present, from when to when (the video server's joins and leaves,
-- or check-in at an in-person interview).
CREATE TABLE attendance (
    id               UUID PRIMARY KEY,
    case_id          UUID NOT NULL REFERENCES cases (case_id),
    participant_key  TEXT NOT NULL,
    name             TEXT NOT NULL,
    role             TEXT NOT NULL,
    joined_at        TIMESTAMPTZ NOT NULL,
    left_at          TIMESTAMPTZ,
    source           TEXT NOT NULL,
    -- the server's report that opened it (deduplication)
    report_key       TEXT NOT NULL DEFAULT '',
    UNIQUE (case_id, report_key)
);
CREATE INDEX attendance_case ON attendance (case_id, participant_key);

-- One interview per plan (its id is the plan's). What was said (the steps,
-- the party's statements) is personal data: sealed with the PII key.
CREATE TABLE interviews (
    id              UUID PRIMARY KEY REFERENCES plans (id),
    case_id         UUID NOT NULL UNIQUE REFERENCES cases (case_id),
    organ           TEXT NOT NULL,
    division        TEXT NOT NULL,
    mode            TEXT NOT NULL,
    -- started, closing, held, refused
    status          TEXT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ,
    present         TEXT[] NOT NULL DEFAULT '{}',
    content_sealed  BYTEA NOT NULL,
    -- agreed items without the party's words, for events and queues
    items           JSONB NOT NULL DEFAULT '[]',
    recordings      JSONB NOT NULL DEFAULT '[]',
    criminal_clue   BOOLEAN NOT NULL DEFAULT false,
    held_for_transfer BOOLEAN NOT NULL DEFAULT false,
    party_absent    BOOLEAN NOT NULL DEFAULT false,
    record_due      DATE,
    record_overdue  BOOLEAN NOT NULL DEFAULT false,
    version         BIGINT NOT NULL DEFAULT 1,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX interviews_organ ON interviews (organ, status);

-- The interview record (行政约谈记录), one row per version. A signed
-- version never changes (trigger below); a correction is the next version.
CREATE TABLE records (
    id                 UUID PRIMARY KEY,
    case_id            UUID NOT NULL REFERENCES cases (case_id),
    interview_id       UUID NOT NULL REFERENCES interviews (id),
    version            INTEGER NOT NULL,
    number             TEXT NOT NULL,
    -- signing, signed, superseded
    status             TEXT NOT NULL,
    content_sha256     TEXT NOT NULL,
    signed_sha256      TEXT NOT NULL DEFAULT '',
    pages              INTEGER NOT NULL DEFAULT 1,
    correction_reason  TEXT NOT NULL DEFAULT '',
    -- the record's data (to render the signed version), sealed
    data_sealed        BYTEA NOT NULL,
    -- who must sign: [{"signer","name","role"}]
    required           JSONB NOT NULL,
    party_refused      BOOLEAN NOT NULL DEFAULT false,
    refusal_reason     TEXT NOT NULL DEFAULT '',
    organ              TEXT NOT NULL,
    division           TEXT NOT NULL,
    co_departments     TEXT[] NOT NULL DEFAULT '{}',
    created_at         TIMESTAMPTZ NOT NULL,
    signed_at          TIMESTAMPTZ,
    UNIQUE (case_id, version)
);

CREATE TABLE record_signatures (
    record_id     UUID NOT NULL REFERENCES records (id),
    signer        TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    -- electronic, paper, tablet, witness
    method        TEXT NOT NULL,
    signature     TEXT NOT NULL DEFAULT '',
    key_id        TEXT NOT NULL DEFAULT '',
    image_sha256  TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    signed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (record_id, signer)
);

-- A signed record is immutable: only its status may move to superseded
-- (when a correction is signed); its signatures cannot change or grow.
CREATE FUNCTION records_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('signed', 'superseded') THEN
        IF NEW.status = 'superseded' AND OLD.status = 'signed'
           AND (NEW.content_sha256, NEW.signed_sha256, NEW.data_sealed, NEW.number, NEW.version)
               IS NOT DISTINCT FROM (OLD.content_sha256, OLD.signed_sha256, OLD.data_sealed, OLD.number, OLD.version) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'record % version % is signed and cannot change', OLD.id, OLD.version;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER records_immutable BEFORE UPDATE OR DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION records_immutable();

CREATE FUNCTION record_signatures_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE s TEXT;
BEGIN
    SELECT status INTO s FROM records WHERE id = COALESCE(NEW.record_id, OLD.record_id);
    IF s IN ('signed', 'superseded') THEN
        RAISE EXCEPTION 'record % is signed; its signatures cannot change', COALESCE(NEW.record_id, OLD.record_id);
    END IF;
    RETURN COALESCE(NEW, OLD);
END $$;
CREATE TRIGGER record_signatures_immutable BEFORE INSERT OR UPDATE OR DELETE ON record_signatures
    FOR EACH ROW EXECUTE FUNCTION record_signatures_immutable();

-- Intake: organs, the violation-type catalogue, parties, clues, cases and
-- the idempotency record of client requests.

-- Organs known to intake: their document code (机关代字) for numbers.
CREATE TABLE organs (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    division       TEXT NOT NULL,
    document_code  TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- Violation types per department, with the provisions documents cite.
CREATE TABLE violation_types (
    code         TEXT PRIMARY KEY,
    department   TEXT NOT NULL,
    name         TEXT NOT NULL,
    legal_basis  TEXT NOT NULL,
    active       BOOLEAN NOT NULL DEFAULT true,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO violation_types (code, department, name, legal_basis) VALUES
 ('SJ-ANNUAL-REPORT', 'market_supervision', '企业未按规定报送年度报告',
  '《企业信息公示暂行条例》第八条、第十七条'),
 ('SJ-FOOD-PURCHASE-CHECK', 'market_supervision', '食品经营者未按规定查验进货凭证、建立进货查验记录',
  '《中华人民共和国食品安全法》第五十三条、第一百二十六条'),
 ('XF-FIRE-EQUIPMENT', 'fire', '消防设施、器材或者消防安全标志的配置、设置不符合标准',
  '《中华人民共和国消防法》第十六条、第六十条第一款第一项'),
 ('AJ-SAFETY-TRAINING', 'work_safety', '未如实记录安全生产教育和培训情况',
  '《中华人民共和国安全生产法》第二十八条、第九十七条'),
 ('HB-SOCIAL-NOISE', 'ecology', '商业经营活动中使用高音广播喇叭等方法招揽顾客，产生噪声干扰他人',
  '《中华人民共和国噪声污染防治法》第六十四条、第八十二条');

-- Parties (R-SCOPE-1). `identity_key` is the keyed hash (HMAC) of the
-- credit code or resident ID: one party per identifier in the deployment,
-- and the key of the repeat check (R-SCOPE-3 X2). The resident ID and the
-- phone numbers are sealed (AES-256-GCM); only the masked ID is plain.
CREATE TABLE parties (
    id                  UUID PRIMARY KEY,
    kind                TEXT NOT NULL,
    identity_key        BYTEA NOT NULL UNIQUE,
    credit_code         TEXT,
    resident_id_sealed  BYTEA,
    resident_id_masked  TEXT,
    name                TEXT NOT NULL,
    address             TEXT NOT NULL,
    -- {phone, representative_phone, sms_number}, sealed.
    contacts_sealed     BYTEA NOT NULL,
    -- representative (without phone) and service consent (without SMS number).
    details             JSONB NOT NULL,
    registered_by_organ TEXT NOT NULL,
    division            TEXT NOT NULL,
    version             BIGINT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    CHECK ((kind = 'person') = (resident_id_sealed IS NOT NULL)),
    CHECK ((kind = 'person') = (credit_code IS NULL))
);

CREATE TABLE clues (
    id                     UUID PRIMARY KEY,
    source                 TEXT NOT NULL,
    organ                  TEXT NOT NULL,
    section                TEXT NOT NULL,
    division               TEXT NOT NULL,
    party_id               UUID NOT NULL REFERENCES parties (id),
    facts                  TEXT NOT NULL CHECK (facts <> ''),
    violation_type         TEXT NOT NULL REFERENCES violation_types (code),
    evidence               JSONB NOT NULL,
    urgency                TEXT NOT NULL,
    received_on            DATE NOT NULL,
    verification_deadline  DATE NOT NULL,
    status                 TEXT NOT NULL,
    case_id                UUID,
    verification_overdue   BOOLEAN NOT NULL DEFAULT false,
    registered_by          TEXT NOT NULL,
    registered_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX clues_division ON clues (division, id DESC);

-- Cases. `number` is the 文号 (R-DOC-2), unique; empty for a case excluded
-- at screening. `party_identity` copies the party's identity key so the
-- province-wide repeat check is one index lookup.
CREATE TABLE cases (
    id              UUID PRIMARY KEY,
    number          TEXT UNIQUE,
    clue_id         UUID NOT NULL UNIQUE REFERENCES clues (id),
    lead_organ      TEXT NOT NULL,
    division        TEXT NOT NULL,
    section         TEXT NOT NULL,
    co_departments  TEXT[] NOT NULL,
    major           BOOLEAN NOT NULL,
    status          TEXT NOT NULL,
    party_id        UUID NOT NULL REFERENCES parties (id),
    party_identity  BYTEA NOT NULL,
    -- The party's name when the case was opened, as the documents print it.
    party_name      TEXT NOT NULL,
    violation_type  TEXT NOT NULL REFERENCES violation_types (code),
    situations      TEXT[] NOT NULL,
    exclusions      JSONB NOT NULL,
    report          JSONB NOT NULL,
    approval_form   JSONB,
    review_round    INTEGER NOT NULL DEFAULT 0,
    proposed_by     TEXT NOT NULL,
    opened_at       TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL
);
CREATE INDEX cases_repeat ON cases (party_identity, violation_type);
CREATE INDEX cases_division ON cases (division, id DESC);
CREATE INDEX cases_party ON cases (party_id, id DESC);
CREATE INDEX cases_co_departments ON cases USING GIN (co_departments);

-- Client request ids of mutating calls: a retry returns the stored answer.
-- The row is inserted first in the call's transaction, so a concurrent
-- retry waits for the first attempt and then reads its answer.
CREATE TABLE requests (
    officer_id  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    method      TEXT NOT NULL,
    digest      BYTEA NOT NULL,
    response    BYTEA,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (officer_id, request_id)
);

-- R-DOC-2: a document code (机关代字) names one organ in its province, so a
-- number shows which organ issued it and each organ's series has no gaps.
-- Existing duplicates cannot be resolved here (which organ keeps the code is
-- an administrator's decision): the migration stops and names them.
DO $$
DECLARE
    taken TEXT;
BEGIN
    SELECT string_agg(format('%s in province %s: %s', document_code, province, organs), '; ')
      INTO taken
      FROM (SELECT document_code, left(division, 2) AS province, string_agg(code, ', ' ORDER BY code) AS organs
              FROM organs GROUP BY document_code, left(division, 2) HAVING count(*) > 1) AS dup;
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'document codes shared by several organs (R-DOC-2); give each organ its own before migrating: %', taken;
    END IF;
END
$$;

CREATE UNIQUE INDEX organs_document_code_per_province ON organs ((left(division, 2)), document_code);

-- The party register is per province: the same identifier registered by
-- officers of two provinces is two parties, and neither province learns of
-- the other's (the repeat check, R-SCOPE-3 X2, matches cases by the keyed
-- hash and is not changed by this).
ALTER TABLE parties ADD COLUMN province TEXT GENERATED ALWAYS AS (left(division, 2)) STORED;
ALTER TABLE parties DROP CONSTRAINT parties_identity_key_key;
CREATE UNIQUE INDEX parties_identity_per_province ON parties (province, identity_key);

-- Every clue and case referenced its violation type by a foreign key, so
-- every RegisterClue and VerifyClue of one violation type, province-wide,
-- took a KEY SHARE lock on the same catalogue row: concurrent lockers of one
-- row turn it into a MultiXact, and those calls queued behind each other.
-- The service checks the code in the same transaction, and catalogue rows
-- are never deleted (a type is retired by `active = false`), which a
-- trigger now enforces instead of the foreign keys.
ALTER TABLE clues DROP CONSTRAINT clues_violation_type_fkey;
ALTER TABLE cases DROP CONSTRAINT cases_violation_type_fkey;

CREATE FUNCTION violation_types_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'violation type % is referenced by clues and cases: retire it (active = false) instead of deleting it', OLD.code;
END;
$$;

CREATE TRIGGER violation_types_keep BEFORE DELETE ON violation_types
    FOR EACH ROW EXECUTE FUNCTION violation_types_keep();
CREATE TRIGGER violation_types_no_update_of_code BEFORE UPDATE OF code ON violation_types
    FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code) EXECUTE FUNCTION violation_types_keep();

-- Document number sequences (R-DOC-2): one row per organ, document kind and
-- year. A number is taken by incrementing the row inside the transaction
-- that issues the document: the row lock makes concurrent issuers take
-- turns (unique), and a rolled-back transaction gives its number back
-- (no gaps).
CREATE TABLE document_counters (
    organ  TEXT    NOT NULL,
    kind   TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL CHECK (last > 0),
    PRIMARY KEY (organ, kind, year)
);

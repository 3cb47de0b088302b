-- The GIN index on co_departments held every case, and almost every case
-- has none: all of them shared GIN's one "empty array" entry, so concurrent
-- case openings queued on the same index pages. Only joint cases are
-- looked up by co-department, so only they are indexed now (the query says
-- `co_departments <> '{}' AND co_departments @> ARRAY[organ]`).
DROP INDEX cases_co_departments;
CREATE INDEX cases_co_departments ON cases USING GIN (co_departments) WHERE co_departments <> '{}';

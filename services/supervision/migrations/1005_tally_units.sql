-- The board's counters summed per county, city and province (over the
-- sections): a province's board reads its cities' rows, a city's its
-- counties', a county's its own — a few hundred rows whatever the number of
-- files. Kept by the same folder statement that moves `tally_deltas` into
-- `tallies`; filled here from what `tallies` already holds.
CREATE TABLE tally_units (
    level    TEXT NOT NULL,
    division TEXT NOT NULL,
    month    DATE NOT NULL,
    metric   TEXT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (level, division, month, metric)
);

INSERT INTO tally_units (level, division, month, metric, n)
SELECT level, division, month, metric, sum(n)::bigint FROM (
    SELECT 'county' AS level, division, month, metric, n FROM tallies
    UNION ALL SELECT 'city', left(division, 4) || '00', month, metric, n FROM tallies
    UNION ALL SELECT 'province', left(division, 2) || '0000', month, metric, n FROM tallies
) t GROUP BY 1, 2, 3, 4;

-- The money issued in all, kept in one row so that the total limit on
-- issuance is checked and raised in the same statement as each issuance
-- (a conditional UPDATE: concurrent openings queue on the row and none can
-- pass the limit together). Seeded from the ledger as it stands.
CREATE TABLE issuance_total (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    total     numeric NOT NULL CHECK (total >= 0)
);
INSERT INTO issuance_total (total)
SELECT COALESCE(sum(amount), 0) FROM ledger_entries WHERE kind = 'issuance';

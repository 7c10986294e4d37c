-- The held amount after each entry (issue 29): with `balance_after`, what
-- the balance, held and available amounts were at any instant, read from
-- one entry (the account's last at or before the instant) found by one
-- lookup in `ledger_entries_by_account`.
--
-- Settle writes it with every entry, under the account row locks it
-- already holds, run on from the held amount it locked: a `hold` adds its
-- amount, a `release` takes it away, every other kind leaves it as it was.
-- The audit checks that chain as it checks `balance_after`'s.
--
-- Cost on the write path: 8 bytes per entry in the heap tuple (the column
-- follows `balance_after`, already 8-aligned, and the null bitmap keeps its
-- size), so about 16 bytes of WAL per payment in COPY's multi-insert
-- records. The index is left as it is: adding the column to its INCLUDE
-- would cost as much again in every index entry, and the lookup reads one
-- heap tuple whatever it carries.
--
-- A constant default makes the new column a catalog change, with no
-- rewrite of the table; 0 is right for every entry of an account that
-- never had a hold, and for an issuance (an account opens with nothing
-- held).
ALTER TABLE ledger_entries ADD COLUMN held_after bigint NOT NULL DEFAULT 0;

-- The backfill is bounded by what holds touched: only the accounts that
-- ever had a hold are read (their entries, in the account's order), and
-- only the entries made while something was held on them are rewritten.
-- The append-only trigger is set aside for this one statement (it runs as
-- the table's owner, in the migration's transaction).
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;
UPDATE ledger_entries l SET held_after = r.held_after
FROM (
    SELECT id, sum(CASE WHEN kind IN ('hold', 'release') THEN amount ELSE 0 END)
               OVER (PARTITION BY account_id ORDER BY created_at, id) AS held_after
    FROM ledger_entries
    WHERE account_id IN (SELECT account_id FROM ledger_entries WHERE kind = 'hold')
) r
WHERE l.id = r.id AND r.held_after <> 0;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;

-- Nothing is ever held below zero. NOT VALID: new entries are checked, and
-- the existing ones are left unscanned (the backfill wrote them as sums of
-- holds and releases, which the audit checks anyway).
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_held_after_check CHECK (held_after >= 0) NOT VALID;

-- Entries as balance transactions (issue 29): each ledger entry carries its
-- account's balance after it, so that an account's history reads as a
-- statement and its balance at any instant is one index lookup, whatever
-- the ledger's size.
--
-- An account's entries are ordered by (created_at, id). Settle stamps its
-- entries with the clock read after it has locked their accounts (not with
-- its transaction's start, `now()`: a batch that began before another but
-- locked the account after that one committed would date its entries
-- before the other's), so within
-- one account that order is also the order they were written in (under the
-- account's row lock), and each `balance_after` follows from the one before
-- it: the previous one plus the entry's amount, or unchanged for a `hold` or
-- `release` (they move `held`, not the balance). `payment-app audit`
-- checks that chain.
ALTER TABLE ledger_entries ADD COLUMN balance_after bigint;

-- Existing entries get their running balance in that same order. The
-- append-only trigger is set aside for this one statement of the migration
-- (it runs as the table's owner, in the migration's transaction).
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;
UPDATE ledger_entries l SET balance_after = r.balance_after
FROM (
    SELECT id, sum(CASE WHEN kind IN ('hold', 'release') THEN 0 ELSE amount END)
               OVER (PARTITION BY account_id ORDER BY created_at, id) AS balance_after
    FROM ledger_entries
) r
WHERE l.id = r.id;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;
ALTER TABLE ledger_entries ALTER COLUMN balance_after SET NOT NULL;

-- The one index the ledger gets by account: an account's entries in their
-- order (the entries API pages through it, keyset) and its balance at an
-- instant (the last entry at or before it, its balance_after read from the
-- index alone). Only ledger_entries is touched: payments keep their WAL
-- budget (issue 27).
CREATE INDEX ledger_entries_by_account ON ledger_entries (account_id, created_at, id) INCLUDE (balance_after);


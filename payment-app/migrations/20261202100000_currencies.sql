-- A currency per account (ISO 4217 code), and money that never crosses
-- currencies. The database holds the rule by itself: a payment names its
-- currency and both its accounts are in it (composite foreign keys), and
-- every ledger entry names its currency, which is its account's and its
-- payment's. An entry moving money between currencies fails here whatever
-- the code above it did. The foreign keys also make an account's currency
-- unchangeable once anything refers to it.
--
-- Everything that exists is in US dollars, which is what amounts meant so
-- far. The defaults stay so that pods of the previous version, still
-- running during a rolling upgrade, keep writing dollars; the app names the
-- currency on every insert.

ALTER TABLE accounts
    ADD COLUMN currency text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$');
-- What the foreign keys below point at; with the currency first, it also
-- serves listing the accounts of one currency by keyset on the id.
ALTER TABLE accounts ADD CONSTRAINT accounts_currency_id_key UNIQUE (currency, id);

ALTER TABLE payments ADD COLUMN currency text NOT NULL DEFAULT 'USD';
ALTER TABLE payments ADD CONSTRAINT payments_id_currency_key UNIQUE (id, currency);
-- The same constraint names as before: intake tells the missing side of a
-- payment by them.
ALTER TABLE payments
    DROP CONSTRAINT payments_from_account_fkey,
    ADD CONSTRAINT payments_from_account_fkey
        FOREIGN KEY (from_account, currency) REFERENCES accounts (id, currency),
    DROP CONSTRAINT payments_to_account_fkey,
    ADD CONSTRAINT payments_to_account_fkey
        FOREIGN KEY (to_account, currency) REFERENCES accounts (id, currency);

ALTER TABLE ledger_entries ADD COLUMN currency text NOT NULL DEFAULT 'USD';
ALTER TABLE ledger_entries
    DROP CONSTRAINT ledger_entries_account_id_fkey,
    ADD CONSTRAINT ledger_entries_account_id_fkey
        FOREIGN KEY (account_id, currency) REFERENCES accounts (id, currency),
    DROP CONSTRAINT ledger_entries_payment_id_fkey,
    ADD CONSTRAINT ledger_entries_payment_id_fkey
        FOREIGN KEY (payment_id, currency) REFERENCES payments (id, currency);

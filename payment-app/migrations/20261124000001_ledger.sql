-- The ledger: accounts, payments and the double-entry records that tie them.
-- Integer minor units (cents) everywhere; constraints are the last line of
-- defence behind settle's own checks, not the first.

CREATE TABLE accounts (
    id          uuid        PRIMARY KEY,
    balance     bigint      NOT NULL CHECK (balance >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments (
    id              uuid        PRIMARY KEY,
    from_account    uuid        NOT NULL REFERENCES accounts (id),
    to_account      uuid        NOT NULL REFERENCES accounts (id),
    amount          bigint      NOT NULL CHECK (amount > 0),
    description     text,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'done', 'failed')),
    failure_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (from_account <> to_account),
    -- A reason exactly when the payment failed.
    CHECK ((status = 'failed') = (failure_reason IS NOT NULL))
);

-- The audit's "stuck pending" check, and anything that sweeps pending
-- payments, reads only this small slice of a table that grows without end.
CREATE INDEX payments_pending_by_age ON payments (created_at) WHERE status = 'pending';

CREATE TABLE ledger_entries (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    -- NULL for issuance (an account's initial balance), set for transfers.
    payment_id  uuid        REFERENCES payments (id),
    kind        text        NOT NULL CHECK (kind IN ('issuance', 'debit', 'credit')),
    -- Signed: debits are negative, so an account's balance is sum(amount).
    amount      bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'issuance') = (payment_id IS NULL)),
    CHECK (CASE kind WHEN 'debit' THEN amount < 0 ELSE amount > 0 END)
);

-- At most one debit and one credit per payment: a payment applied twice
-- fails here even if every check above it were wrong.
CREATE UNIQUE INDEX ledger_entries_one_side_per_payment
    ON ledger_entries (payment_id, kind) WHERE payment_id IS NOT NULL;

-- Holds (issue 16): a payment with `capture = 'manual'` is authorized by
-- settle (the amount is held on the payer: `held` rises, `balance` does
-- not), then captured, voided or expired, each applied by settle too.
--
-- An account's `held` is the sum of its `hold` and `release` entries, as
-- its `balance` is the sum of its other entries; available = balance -
-- held, never negative (the CHECK below is the last line behind settle).
ALTER TABLE accounts ADD COLUMN held bigint NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD CONSTRAINT accounts_held_covered CHECK (held >= 0 AND held <= balance);

ALTER TABLE payments
    ADD COLUMN capture text NOT NULL DEFAULT 'automatic' CHECK (capture IN ('automatic', 'manual')),
    -- How long the hold lasts once authorized (manual payments only).
    ADD COLUMN hold_secs integer CHECK (hold_secs BETWEEN 1 AND 2592000),
    ADD COLUMN hold_expires_at timestamptz,
    -- Set when a manual payment is captured: what moved.
    ADD COLUMN amount_captured bigint,
    -- A capture or void asked for at the API and not applied yet. The first
    -- request recorded wins (a conditional UPDATE under the row lock), so
    -- at most one is ever recorded; settle applies it.
    ADD COLUMN requested_action text CHECK (requested_action IN ('capture', 'void')),
    ADD COLUMN requested_amount bigint,
    ADD COLUMN action_requested_at timestamptz;
ALTER TABLE payments
    ADD CONSTRAINT payments_hold_secs_manual CHECK ((capture = 'manual') = (hold_secs IS NOT NULL)),
    ADD CONSTRAINT payments_captured_within CHECK (amount_captured > 0 AND amount_captured <= amount),
    ADD CONSTRAINT payments_requested_within CHECK (requested_amount > 0 AND requested_amount <= amount),
    ADD CONSTRAINT payments_requested_amount_capture
        CHECK (COALESCE(requested_action = 'capture', false) = (requested_amount IS NOT NULL)),
    ADD CONSTRAINT payments_authorized_expires CHECK (status <> 'authorized' OR hold_expires_at IS NOT NULL);
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('pending', 'authorized', 'done', 'failed', 'voided', 'expired'));

-- Authorizations waiting for their expiry, or for a requested capture or
-- void, are what the relay sweeps besides pending payments.
CREATE INDEX payments_authorized_by_expiry ON payments (hold_expires_at) WHERE status = 'authorized';

-- Ledger kinds of holds. `hold` (+) and `release` (-) move `held`; `capture`
-- (-) is the payer's side of a captured payment (the payee's is a `credit`).
-- Each at most once per payment (the unique index on (payment_id, kind)).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('issuance', 'debit', 'credit', 'hold', 'release', 'capture'));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_check1;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_sign
    CHECK (CASE WHEN kind IN ('debit', 'release', 'capture') THEN amount < 0 ELSE amount > 0 END);

-- A settled payment still never changes (but for its metadata and
-- updated_at, where metadata exists); an authorized one changes only into
-- one of its ends (or stays authorized while a capture or void is recorded
-- on it, or the relay stamps it), and no payment's parties or amount ever
-- change. Same names as the guards they replace (and as the metadata
-- migration's, whichever of the two runs first), so `audit` finds them.
DROP TRIGGER payments_terminal_frozen ON payments;
CREATE TRIGGER payments_terminal_frozen
    BEFORE UPDATE ON payments
    FOR EACH ROW WHEN (
        (OLD.status NOT IN ('pending', 'authorized')
         AND (to_jsonb(OLD) - 'metadata' - 'updated_at') IS DISTINCT FROM (to_jsonb(NEW) - 'metadata' - 'updated_at'))
        OR (OLD.status = 'authorized' AND NEW.status NOT IN ('authorized', 'done', 'voided', 'expired', 'failed'))
        OR NEW.amount <> OLD.amount OR NEW.from_account <> OLD.from_account OR NEW.to_account <> OLD.to_account
    ) EXECUTE FUNCTION payrail_refuse_change();
DROP TRIGGER IF EXISTS payments_terminal_undeletable ON payments;
CREATE TRIGGER payments_terminal_undeletable
    BEFORE DELETE ON payments
    FOR EACH ROW WHEN (OLD.status <> 'pending') EXECUTE FUNCTION payrail_refuse_change();

ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'payment.created', 'payment.done', 'payment.failed',
    'payment.authorized', 'payment.captured', 'payment.voided', 'payment.expired'));

-- The statement view sums what moves balances only: holds and releases
-- change what is available, not the balance.
DROP MATERIALIZED VIEW account_daily;
CREATE MATERIALIZED VIEW account_daily AS
SELECT account_id,
       day,
       debits,
       credits,
       entries,
       sum(net) OVER (PARTITION BY account_id ORDER BY day) AS closing_balance
FROM (
    SELECT account_id,
           (created_at AT TIME ZONE 'UTC')::date AS day,
           COALESCE(sum(-amount) FILTER (WHERE amount < 0), 0) AS debits,
           COALESCE(sum(amount) FILTER (WHERE amount > 0), 0) AS credits,
           count(*) AS entries,
           sum(amount) AS net
    FROM ledger_entries
    WHERE kind NOT IN ('hold', 'release')
    GROUP BY account_id, (created_at AT TIME ZONE 'UTC')::date
) per_day;
CREATE UNIQUE INDEX account_daily_by_account_day ON account_daily (account_id, day);

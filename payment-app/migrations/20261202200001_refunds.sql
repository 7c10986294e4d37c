-- Refunds (issue 16): money given back from a `done` payment's payee to its
-- payer, recorded `pending` at the API and applied by settle under both
-- accounts' locks, as payments are. The sum of a payment's refunds that
-- are not `failed` never passes what it moved: checked at the API under the
-- payment's row lock (counting pending refunds) and again by settle.
CREATE TABLE refunds (
    id              uuid        PRIMARY KEY,
    payment_id      uuid        NOT NULL REFERENCES payments (id),
    amount          bigint      NOT NULL CHECK (amount > 0),
    reason          text        CHECK (char_length(reason) <= 500),
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    failure_reason  text,
    -- When the relay last re-published this pending refund's payment.
    relayed_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'failed') = (failure_reason IS NOT NULL))
);
-- A payment's refunds (its list, the sums at the API and in settle).
CREATE INDEX refunds_by_payment ON refunds (payment_id, id);
-- What the relay sweeps.
CREATE INDEX refunds_pending_by_age ON refunds (created_at) WHERE status = 'pending';

-- A refund's ledger entries: `refund_debit` (-) of the payee and
-- `refund_credit` (+) of the payer, each once per refund, tied to the
-- refund (and through it to its payment).
ALTER TABLE ledger_entries ADD COLUMN refund_id uuid REFERENCES refunds (id);
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN (
    'issuance', 'debit', 'credit', 'hold', 'release', 'capture', 'refund_debit', 'refund_credit'));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_sign;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_sign
    CHECK (CASE WHEN kind IN ('debit', 'release', 'capture', 'refund_debit') THEN amount < 0 ELSE amount > 0 END);
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_tied CHECK (CASE
    WHEN kind = 'issuance' THEN payment_id IS NULL AND refund_id IS NULL
    WHEN kind IN ('refund_debit', 'refund_credit') THEN refund_id IS NOT NULL AND payment_id IS NULL
    ELSE payment_id IS NOT NULL AND refund_id IS NULL END);
CREATE UNIQUE INDEX ledger_entries_one_side_per_refund
    ON ledger_entries (refund_id, kind) WHERE refund_id IS NOT NULL;

-- A settled refund never changes either.
CREATE OR REPLACE FUNCTION payrail_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'payments' THEN
        RAISE EXCEPTION 'payment % is %: a settled payment never changes', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_TABLE_NAME = 'refunds' THEN
        RAISE EXCEPTION 'refund % is %: a settled refund never changes', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RAISE EXCEPTION 'ledger entries are append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER refunds_terminal_frozen
    BEFORE UPDATE ON refunds
    FOR EACH ROW WHEN (OLD.status <> 'pending' OR NEW.amount <> OLD.amount OR NEW.payment_id <> OLD.payment_id)
    EXECUTE FUNCTION payrail_refuse_change();
CREATE TRIGGER refunds_never_deleted
    BEFORE DELETE ON refunds
    FOR EACH ROW EXECUTE FUNCTION payrail_refuse_change();

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_scope_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_scope_check
    CHECK (scope IN ('payment', 'account', 'refund'));

-- Refund events: `payment_id` is the refund's payment (deliveries keep a
-- payment's events in order), `refund_id` says which refund.
ALTER TABLE events ADD COLUMN refund_id uuid REFERENCES refunds (id);
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'payment.created', 'payment.done', 'payment.failed',
    'payment.authorized', 'payment.captured', 'payment.voided', 'payment.expired',
    'refund.done', 'refund.failed'));
ALTER TABLE events ADD CONSTRAINT events_refund_tied CHECK ((type LIKE 'refund.%') = (refund_id IS NOT NULL));

-- The app role may not delete refunds either.
CREATE OR REPLACE FUNCTION payrail_grant_app_role(role name) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF role = current_user THEN
        RAISE EXCEPTION 'the app role must not be the role that applies migrations (%)', role;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role AND rolsuper) THEN
        RAISE EXCEPTION 'the app role % is a superuser: give the app a role of its own', role;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', role);
    EXECUTE format('REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM %I', role);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations, view_refreshes FROM %I', role);
    EXECUTE format('REVOKE UPDATE, DELETE ON ledger_entries FROM %I', role);
    EXECUTE format('REVOKE DELETE ON payments, accounts, issuance_total, events, refunds FROM %I', role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_refresh_account_daily() TO %I', role);
END
$$;

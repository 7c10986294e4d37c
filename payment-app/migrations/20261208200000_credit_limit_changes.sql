-- Credit limit changes, kept and announced (issue 29).
--
-- Two jobs, two lifetimes:
--
-- * `credit_limit_changes` is the history of every account's limit: one
--   row per change (an account opened with a limit, a PATCH that changed
--   it), append-only for the app, never removed. It is ledger data: it is
--   what `balance?at=` reads to answer what was available at an instant,
--   so it must outlive the events' retention.
-- * The `account.credit_limit_changed` event announces a change, through
--   the feed, webhooks and `payrail.events`, and is retained (and
--   forgotten) like every event.
--
-- The event and the change share one id: the event is the change's
-- announcement, and its data is the change's row, reached from the event
-- by that key (no column on `events`; a payment event's row stays exactly
-- as wide as before, so the payment write path is unchanged). There is no
-- foreign key between them: retention removes the event, never the
-- change.
CREATE TABLE credit_limit_changes (
    -- The id of the event that announced it (UUID v7, made under the
    -- account's row lock, so one account's changes are in id order).
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id),
    old_limit bigint NOT NULL CHECK (old_limit >= 0),
    new_limit bigint NOT NULL CHECK (new_limit >= 0),
    changed_at timestamptz NOT NULL DEFAULT now()
);
-- The limit at an instant: the first change after it says what the limit
-- was before (its old_limit); with none, the limit is today's. One lookup.
CREATE INDEX credit_limit_changes_by_account ON credit_limit_changes (account_id, changed_at);

-- Events are about a payment (`payment.*`, `refund.*`: `payment_id` set,
-- with the payment's status as of the event) or about an account
-- (`account.*`: no payment, no status; the data is the change's row).
-- Every existing row satisfies the check (the columns were NOT NULL until
-- this statement), so it is added without a scan of the table.
ALTER TABLE events ALTER COLUMN payment_id DROP NOT NULL,
    ALTER COLUMN status DROP NOT NULL,
    ALTER COLUMN payment_updated_at DROP NOT NULL;
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'payment.created', 'payment.done', 'payment.failed',
    'payment.authorized', 'payment.captured', 'payment.voided', 'payment.expired',
    'refund.done', 'refund.failed', 'account.credit_limit_changed'));
ALTER TABLE events ADD CONSTRAINT events_subject CHECK (
    CASE WHEN type LIKE 'account.%' THEN payment_id IS NULL AND refund_id IS NULL
         ELSE payment_id IS NOT NULL AND status IS NOT NULL AND payment_updated_at IS NOT NULL END) NOT VALID;

-- A webhook endpoint receives one subject's events in order (each waits
-- for the subject's earlier ones): the subject is the payment for payment
-- and refund events, the account for account events. The column kept its
-- values and its index; only its name says what it now holds.
ALTER TABLE webhook_deliveries RENAME COLUMN payment_id TO subject_id;

-- The app role may add to the history, never rewrite it.
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
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations, view_refreshes, account_daily FROM %I', role);
    EXECUTE format('REVOKE ALL ON audit_checkpoints, audit_checkpoint_accounts FROM %I', role);
    EXECUTE format('REVOKE UPDATE, DELETE ON ledger_entries, credit_limit_changes FROM %I', role);
    EXECUTE format('REVOKE DELETE ON payments, accounts, issuance_total, events, refunds FROM %I', role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_refresh_account_daily() TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_account_daily_horizon(integer) TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_forget_events(integer, integer) TO %I', role);
END
$$;

-- Statements (issue 27): the per-day totals become a table the refresh
-- job keeps up to date incrementally, instead of a materialized view that
-- every refresh computed again from all of history (1.45 s a minute at
-- 2.4 M entries, and growing). A refresh adds the entries written since
-- the last one to their days and moves those accounts' closing balances
-- on from the first day that changed; no other row is touched. Statements
-- read it as they read the view (on the replica), and `as_of` is still the
-- moment up to which every committed entry is counted.

-- Up to which entry the table counts, and up to which the next refresh
-- will (taken by `payrail_account_daily_horizon`, see below).
ALTER TABLE view_refreshes
    ADD COLUMN last_entry_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN horizon_entry_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN horizon_at timestamptz;

-- Entries that commit while this runs wait for it: the fill below counts
-- every entry up to the largest id, and none may commit under it later.
LOCK TABLE ledger_entries IN SHARE MODE;

DROP MATERIALIZED VIEW account_daily;
DROP FUNCTION payrail_refresh_account_daily();

CREATE TABLE account_daily (
    account_id       uuid    NOT NULL,
    day              date    NOT NULL,
    -- Numeric: a day's sums may pass what a bigint holds.
    debits           numeric NOT NULL,
    credits          numeric NOT NULL,
    entries          bigint  NOT NULL,
    -- The running sum of the account's entries up to the day's end.
    closing_balance  numeric NOT NULL
);
-- A unique index rather than a primary key: the refresh's upsert needs it,
-- and it keeps the name statements have always read by.
CREATE UNIQUE INDEX account_daily_by_account_day ON account_daily (account_id, day);

INSERT INTO account_daily (account_id, day, debits, credits, entries, closing_balance)
SELECT account_id, day, debits, credits, entries,
       sum(credits - debits) OVER (PARTITION BY account_id ORDER BY day)
FROM (
    SELECT account_id,
           (created_at AT TIME ZONE 'UTC')::date AS day,
           COALESCE(sum(-amount) FILTER (WHERE amount < 0), 0) AS debits,
           COALESCE(sum(amount) FILTER (WHERE amount > 0), 0) AS credits,
           count(*) AS entries
    FROM ledger_entries
    WHERE kind NOT IN ('hold', 'release')
    GROUP BY account_id, (created_at AT TIME ZONE 'UTC')::date
) per_day;

UPDATE view_refreshes
SET last_entry_id = (SELECT COALESCE(max(id), 0) FROM ledger_entries),
    horizon_entry_id = (SELECT COALESCE(max(id), 0) FROM ledger_entries),
    horizon_at = now(), refreshed_at = now()
WHERE name = 'account_daily';

-- Where the next refresh stops. Entry ids come from a sequence, and a
-- transaction may commit a smaller id after another committed a larger one:
-- the largest id is a safe place to stop only once every transaction that
-- writes entries has ended. A SHARE lock waits for exactly those (each holds
-- ROW EXCLUSIVE from its insert to its commit); the caller runs this in a
-- transaction of its own, so the lock is let go at once, and new writers
-- wait at most `lock_timeout_ms` behind it. Runs as the owner: LOCK needs
-- more than the app role holds on ledger_entries.
CREATE FUNCTION payrail_account_daily_horizon(lock_timeout_ms integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    upto bigint;
BEGIN
    PERFORM set_config('lock_timeout', lock_timeout_ms || 'ms', true);
    LOCK TABLE ledger_entries IN SHARE MODE;
    SELECT COALESCE(max(id), 0) INTO upto FROM ledger_entries;
    UPDATE view_refreshes SET horizon_entry_id = GREATEST(horizon_entry_id, upto), horizon_at = now()
    WHERE name = 'account_daily';
    RETURN upto;
END
$$;
REVOKE ALL ON FUNCTION payrail_account_daily_horizon(integer) FROM PUBLIC;

-- Adds the entries after `last_entry_id` up to the horizon to their days,
-- then recomputes the closing balances of those accounts from the first
-- day that changed (usually only today's row). Returns how many days it
-- changed. Rows of other days and other accounts are not written.
CREATE FUNCTION payrail_refresh_account_daily() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    done bigint;
    upto bigint;
    changed bigint;
BEGIN
    SELECT last_entry_id, horizon_entry_id INTO done, upto
    FROM view_refreshes WHERE name = 'account_daily' FOR UPDATE;
    IF upto > done THEN
        INSERT INTO account_daily AS d (account_id, day, debits, credits, entries, closing_balance)
        SELECT account_id, (created_at AT TIME ZONE 'UTC')::date,
               COALESCE(sum(-amount) FILTER (WHERE amount < 0), 0),
               COALESCE(sum(amount) FILTER (WHERE amount > 0), 0),
               count(*), 0
        FROM ledger_entries
        WHERE id > done AND id <= upto AND kind NOT IN ('hold', 'release')
        GROUP BY 1, 2
        ON CONFLICT (account_id, day) DO UPDATE
        SET debits = d.debits + EXCLUDED.debits, credits = d.credits + EXCLUDED.credits,
            entries = d.entries + EXCLUDED.entries;
        GET DIAGNOSTICS changed = ROW_COUNT;

        WITH firsts AS (
            SELECT account_id, min((created_at AT TIME ZONE 'UTC')::date) AS first_day
            FROM ledger_entries
            WHERE id > done AND id <= upto AND kind NOT IN ('hold', 'release')
            GROUP BY account_id),
        fixed AS (
            SELECT d.account_id, d.day,
                   COALESCE((SELECT p.closing_balance FROM account_daily p
                             WHERE p.account_id = d.account_id AND p.day < f.first_day
                             ORDER BY p.day DESC LIMIT 1), 0)
                   + sum(d.credits - d.debits) OVER (PARTITION BY d.account_id ORDER BY d.day) AS closing
            FROM firsts f JOIN account_daily d ON d.account_id = f.account_id AND d.day >= f.first_day)
        UPDATE account_daily d SET closing_balance = fixed.closing
        FROM fixed
        WHERE d.account_id = fixed.account_id AND d.day = fixed.day AND d.closing_balance <> fixed.closing;
    ELSE
        changed := 0;
    END IF;
    UPDATE view_refreshes
    SET last_entry_id = GREATEST(done, upto), refreshed_at = COALESCE(horizon_at, now())
    WHERE name = 'account_daily';
    RETURN changed;
END
$$;
REVOKE ALL ON FUNCTION payrail_refresh_account_daily() FROM PUBLIC;

-- What the app role may do, now that the per-day totals are a table: it
-- refreshes them through the two functions above and writes them no other
-- way, and it neither reads nor writes the audit's checkpoints (the audit
-- runs as the owner; a checkpoint the app could rewrite would vouch for
-- nothing).
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
    EXECUTE format('REVOKE UPDATE, DELETE ON ledger_entries FROM %I', role);
    EXECUTE format('REVOKE DELETE ON payments, accounts, issuance_total, events, refunds FROM %I', role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_refresh_account_daily() TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_account_daily_horizon(integer) TO %I', role);
END
$$;

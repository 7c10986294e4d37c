-- Account statements: payments listed per account, and per-day totals
-- served from a materialized view (read on the replica, refreshed on the
-- primary by one instance at a time).

-- An account's payments, newest first, by keyset on the (time-ordered) id.
CREATE INDEX payments_by_payer ON payments (from_account, id);
CREATE INDEX payments_by_payee ON payments (to_account, id);

-- Per account and day: debits, credits, entries, and the closing balance
-- (the running sum of the ledger up to that day's end).
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
           COALESCE(sum(-amount) FILTER (WHERE amount < 0), 0)::bigint AS debits,
           COALESCE(sum(amount) FILTER (WHERE amount > 0), 0)::bigint AS credits,
           count(*) AS entries,
           sum(amount) AS net
    FROM ledger_entries
    GROUP BY account_id, (created_at AT TIME ZONE 'UTC')::date
) per_day;

-- REFRESH ... CONCURRENTLY needs a unique index; statements read by it.
CREATE UNIQUE INDEX account_daily_by_account_day ON account_daily (account_id, day);

-- When each view was last refreshed, so a statement can say how fresh it is.
CREATE TABLE view_refreshes (
    name          text        PRIMARY KEY,
    refreshed_at  timestamptz NOT NULL
);
INSERT INTO view_refreshes (name, refreshed_at) VALUES ('account_daily', now());

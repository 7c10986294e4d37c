-- A day's debits and credits on one account may pass what a bigint holds
-- even when every balance fits: the old casts made every refresh of the
-- view fail from then on. The sums stay numeric; the API prints them as
-- decimal text.
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
    GROUP BY account_id, (created_at AT TIME ZONE 'UTC')::date
) per_day;

CREATE UNIQUE INDEX account_daily_by_account_day ON account_daily (account_id, day);

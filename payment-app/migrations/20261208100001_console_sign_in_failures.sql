-- Wrong tokens presented at console sign-in, per client address (issue
-- 31), kept here so that the limit holds across every API process: kept in
-- each process's memory, behind N replicas a guesser had 5 x N tries
-- before the first wait. One row per address with a recent failure: a row
-- is removed by the right token, and rows older than an hour by every
-- sign-in (by the index below); past 10,000 rows the longest-idle go
-- first, so a spray from many addresses cannot grow the table. Sign-in is
-- an operator's click, never the payments' path.
CREATE TABLE console_sign_in_failures (
    -- The address as the connection shows it (IpAddr's text form).
    client         text PRIMARY KEY,
    failures       integer NOT NULL CHECK (failures >= 0),
    last_failed_at timestamptz NOT NULL
);
CREATE INDEX console_sign_in_failures_by_time ON console_sign_in_failures (last_failed_at);

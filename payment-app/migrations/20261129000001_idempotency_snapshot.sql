-- An idempotency key now keeps only a snapshot of what it created (in
-- `response`); the HTTP status of the first answer is the route's own, so
-- it is no longer written. The column stays, with a default, so that pods
-- of the previous version still running during a rolling upgrade can read
-- and write it; a later migration drops it.
ALTER TABLE idempotency_keys ALTER COLUMN status SET DEFAULT 0;

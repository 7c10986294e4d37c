-- When the relay last re-published a pending payment, so that each stale
-- payment is re-published once per interval, not on every sweep.
ALTER TABLE payments ADD COLUMN relayed_at timestamptz;

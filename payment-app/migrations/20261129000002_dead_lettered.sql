-- A payment whose settle message reached the broker's delivery limit is
-- stamped here when settle hands it back the last time: the relay leaves
-- it alone (re-queueing it would only dead-letter it again, for ever), and
-- `dead-letters replay` clears the stamp when it sends the payment round
-- again.
ALTER TABLE payments ADD COLUMN dead_lettered_at timestamptz;

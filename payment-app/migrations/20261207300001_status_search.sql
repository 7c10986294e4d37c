-- A search by status alone (GET /payments?status=) lost its index when no
-- index could name `status` any more (hot_status_updates: settle's status
-- changes stay HOT). It walked the ids newest first, cheap for `done` and a
-- scan of all history for a rare status. Each status is now found where it
-- lives, without an index that settle's updates of `status` would touch:
-- pending and authorized in `open_payments`; failed through `failure_reason`,
-- which is set exactly when a payment fails (a CHECK of the table); voided and
-- expired among the manual payments (`capture` is fixed at insert). Only a
-- failing update writes an entry here (its `failure_reason` changes): a
-- settled payment's update stays HOT.
CREATE INDEX payments_failed ON payments (id) WHERE failure_reason IS NOT NULL;
CREATE INDEX payments_manual ON payments (id) WHERE capture = 'manual';

-- Settling a payment changes its status, and nothing else that is indexed
-- (issue 27). PostgreSQL updates a row in place, without a new entry in
-- every index (a HOT update), only when no indexed column changes, and a
-- column named in a partial index's WHERE counts. `status` was in three
-- indexes on payments (payments_by_status, and the predicates of
-- payments_pending_by_age and payments_authorized_by_expiry), so every
-- settle wrote a second copy of the row and eleven index entries where a
-- HOT update writes none: half of all WAL a payment cost.
--
-- What those indexes found, the payments that are not settled yet (pending,
-- or authorized and waiting for a capture, void or expiry), is now a table
-- of its own, kept by triggers in the same statement that inserts or moves
-- a payment, so it cannot drift from `payments` whichever code writes. It
-- holds only the work in flight: an id written at insert and removed when
-- the payment ends, about a tenth of what the indexes cost.
CREATE TABLE open_payments (
    id uuid PRIMARY KEY
);

-- Statement-level: one INSERT or DELETE per statement, whatever its size
-- (intake and settle write payments in sets).
CREATE FUNCTION payrail_open_payments_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO open_payments (id) SELECT id FROM inserted WHERE status IN ('pending', 'authorized');
    RETURN NULL;
END
$$;
CREATE FUNCTION payrail_open_payments_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A payment never leaves an end (payments_terminal_frozen): only
    -- removals here.
    DELETE FROM open_payments o USING updated u
    WHERE o.id = u.id AND u.status NOT IN ('pending', 'authorized');
    RETURN NULL;
END
$$;
CREATE TRIGGER payments_open_on_insert AFTER INSERT ON payments
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION payrail_open_payments_insert();
CREATE TRIGGER payments_open_on_update AFTER UPDATE ON payments
    REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION payrail_open_payments_update();

-- After the triggers: creating them locked payments against writes until
-- this migration commits, so no payment written meanwhile (by an instance
-- of the previous version) can fall between this copy and the triggers.
INSERT INTO open_payments (id) SELECT id FROM payments WHERE status IN ('pending', 'authorized');

DROP INDEX payments_pending_by_age;
DROP INDEX payments_authorized_by_expiry;
DROP INDEX payments_by_status;

-- A HOT update needs room on the row's own page, and the old versions on
-- a page are pruned only once the transaction that replaced them is over.
-- Intake writes a batch's payments side by side and one settle transaction
-- may move them all, so a page keeps room for a new version of every row
-- on it: half of it. (At 80 %, 56 of 200 such updates were HOT; at 50 %,
-- all; the test `settling_a_batch_updates_its_payments_in_place`.) The
-- heap is about twice as big; the WAL, the indexes and the work are not.
ALTER TABLE payments SET (fillfactor = 50);

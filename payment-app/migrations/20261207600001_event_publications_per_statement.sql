-- The outbox of `payrail.events` holds one row per statement that wrote
-- events, not one per event (issue 27, write cost). Each row cost an
-- insert, a B-tree entry, the foreign key's lock on its event and a delete:
-- about 250 WAL bytes for every event, two events a payment. A statement
-- (an intake group, a client's batch, a settle batch) now writes one row
-- listing its events, so the cost is shared by all of them.
--
-- `first_event` is the statement's smallest event id: the publisher reads
-- rows in that order and sends the events of what it read in id order, the
-- feed's order. A payment's later events are made by a later statement,
-- after the earlier one committed, so they never come before its earlier
-- ones (as in the feed, whose order is the ids').
--
-- No foreign key to `events` (it could not point into an array, and the
-- row lock it took on each event was part of the cost): retention instead
-- keeps every event from the oldest one still owed onwards (see
-- payrail_forget_events below), and an event is only ever written together
-- with its row here, by the same statement.
ALTER TABLE event_publications DROP CONSTRAINT event_publications_event_id_fkey;
ALTER TABLE event_publications RENAME COLUMN event_id TO first_event;
ALTER TABLE event_publications ADD COLUMN event_ids uuid[];
UPDATE event_publications SET event_ids = ARRAY[first_event];
ALTER TABLE event_publications ALTER COLUMN event_ids SET NOT NULL,
    ADD CONSTRAINT event_publications_not_empty CHECK (cardinality(event_ids) > 0);

-- Retention removes only events older than every event still owed to the
-- broker: a broker that is down delays the removal of what came after its
-- oldest owed event, it never loses an event. Otherwise as before.
CREATE OR REPLACE FUNCTION payrail_forget_events(days integer, batch integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    doomed uuid[];
    gone bigint;
    owed_from uuid;
BEGIN
    IF days < 1 OR batch < 1 THEN
        RAISE EXCEPTION 'events are kept for at least a day (asked %), removed in batches of at least one', days;
    END IF;
    -- Read before the events: a row written after this read lists only
    -- events newer than any this call may remove (they are days old).
    SELECT first_event INTO owed_from FROM event_publications ORDER BY first_event LIMIT 1;
    SELECT array_agg(id) INTO doomed FROM (
        SELECT e.id FROM events e
        WHERE e.id < payrail_first_uuid_at(now() - make_interval(days => days))
          AND (owed_from IS NULL OR e.id < owed_from)
        ORDER BY e.id LIMIT batch) AS oldest;
    IF doomed IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM webhook_deliveries d USING webhook_endpoints e
    WHERE d.endpoint_id = e.id AND d.event_id = ANY(doomed);
    DELETE FROM events WHERE id = ANY(doomed);
    GET DIAGNOSTICS gone = ROW_COUNT;
    RETURN gone;
END
$$;
REVOKE ALL ON FUNCTION payrail_forget_events(integer, integer) FROM PUBLIC;

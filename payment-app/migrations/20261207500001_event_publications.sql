-- Events on AMQP (issue 29): every event is also published to the topic
-- exchange `payrail.events`. `event_publications` is that target's outbox,
-- written like `webhook_deliveries`: by the statement that writes the event,
-- so an event exists exactly when its publication is owed. The publisher
-- reads it in event id order (the feed's order), publishes with confirms,
-- and deletes what the broker confirmed, in one transaction: a publish that
-- fails leaves its rows, which are published again (at least once, never a
-- gap). Kept apart from `events` (no "published" column there): a flag
-- would rewrite every event row once more, while this table stays as small
-- as the backlog.
--
-- Events written before this migration are not owed: consumers that want
-- history read the feed.
CREATE TABLE event_publications (
    -- The key to `events` also keeps retention from removing an event
    -- that was never published (see payrail_forget_events below).
    event_id uuid PRIMARY KEY REFERENCES events (id)
);

-- Retention skips events still owed to the broker: a broker down for
-- longer than EVENTS_RETENTION_DAYS delays their removal, it never loses
-- them. Otherwise as before.
CREATE OR REPLACE FUNCTION payrail_forget_events(days integer, batch integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    doomed uuid[];
    gone bigint;
BEGIN
    IF days < 1 OR batch < 1 THEN
        RAISE EXCEPTION 'events are kept for at least a day (asked %), removed in batches of at least one', days;
    END IF;
    SELECT array_agg(id) INTO doomed FROM (
        SELECT e.id FROM events e
        WHERE e.id < payrail_first_uuid_at(now() - make_interval(days => days))
          AND NOT EXISTS (SELECT 1 FROM event_publications p WHERE p.event_id = e.id)
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

-- Retention (issue 27): events and webhook delivery attempts older than
-- EVENTS_RETENTION_DAYS are removed by a background job, in bounded
-- batches, oldest first. Their ids are UUID v7 (time-ordered), so "older
-- than" is an id range on the primary key: no new index, no scan of what
-- is kept.

-- The first UUID v7 a moment can have: every id made before it is smaller.
CREATE FUNCTION payrail_first_uuid_at(at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-0000-0000-000000000000')::uuid
    FROM (SELECT lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') AS h) AS ms
$$;

-- Removes up to `batch` of the oldest events made more than `days` days
-- ago, with their webhook deliveries (an event that old is not sent any
-- more), and returns how many events went. The app role may not delete
-- events otherwise: they are the outbox of every change, and this keeps
-- at least a day of them whatever it is asked.
CREATE FUNCTION payrail_forget_events(days integer, batch integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    doomed uuid[];
    gone bigint;
BEGIN
    IF days < 1 OR batch < 1 THEN
        RAISE EXCEPTION 'events are kept for at least a day (asked %), removed in batches of at least one', days;
    END IF;
    SELECT array_agg(id) INTO doomed FROM (
        SELECT id FROM events WHERE id < payrail_first_uuid_at(now() - make_interval(days => days))
        ORDER BY id LIMIT batch) AS oldest;
    IF doomed IS NULL THEN
        RETURN 0;
    END IF;
    -- Through the endpoints: deliveries are keyed (endpoint, event), and
    -- every delivery has its endpoint (deleting one deletes them).
    DELETE FROM webhook_deliveries d USING webhook_endpoints e
    WHERE d.endpoint_id = e.id AND d.event_id = ANY(doomed);
    DELETE FROM events WHERE id = ANY(doomed);
    GET DIAGNOSTICS gone = ROW_COUNT;
    RETURN gone;
END
$$;
REVOKE ALL ON FUNCTION payrail_forget_events(integer, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION payrail_grant_app_role(role name) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF role = current_user THEN
        RAISE EXCEPTION 'the app role must not be the role that applies migrations (%)', role;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role AND rolsuper) THEN
        RAISE EXCEPTION 'the app role % is a superuser: give the app a role of its own', role;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', role);
    EXECUTE format('REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM %I', role);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations, view_refreshes, account_daily FROM %I', role);
    EXECUTE format('REVOKE ALL ON audit_checkpoints, audit_checkpoint_accounts FROM %I', role);
    EXECUTE format('REVOKE UPDATE, DELETE ON ledger_entries FROM %I', role);
    EXECUTE format('REVOKE DELETE ON payments, accounts, issuance_total, events, refunds FROM %I', role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_refresh_account_daily() TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_account_daily_horizon(integer) TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_forget_events(integer, integer) TO %I', role);
END
$$;

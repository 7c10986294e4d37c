-- payment-app runs as a role of its own, apart from the role that owns the
-- schema and applies these migrations: the app role may read and write
-- rows, but owns nothing, cannot change the schema, cannot rewrite the
-- ledger (no UPDATE or DELETE on ledger entries, no DELETE of payments or
-- accounts) and cannot drop the guards. `payment-app migrate --app-role
-- NAME` creates the role when asked to set its password, then grants it
-- exactly this, on every run (so new tables are covered).

-- Refreshing a materialized view needs its owner: the app role refreshes
-- through this function, which runs as its owner.
CREATE FUNCTION payrail_refresh_account_daily() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY account_daily;
    UPDATE view_refreshes SET refreshed_at = now() WHERE name = 'account_daily';
END
$$;
REVOKE ALL ON FUNCTION payrail_refresh_account_daily() FROM PUBLIC;

-- Creates the app role if it is missing and (re)sets its password when one
-- is given: rotating the password is running migrate again.
CREATE FUNCTION payrail_ensure_app_role(role name, password text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role) THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', role);
    END IF;
    IF password IS NOT NULL THEN
        EXECUTE format('ALTER ROLE %I WITH LOGIN PASSWORD %L', role, password);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION payrail_ensure_app_role(name, text) FROM PUBLIC;

-- What the app role may do; refused for a superuser or the role running it.
CREATE FUNCTION payrail_grant_app_role(role name) RETURNS void
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
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations, view_refreshes FROM %I', role);
    EXECUTE format('REVOKE UPDATE, DELETE ON ledger_entries FROM %I', role);
    EXECUTE format('REVOKE DELETE ON payments, accounts, issuance_total, events FROM %I', role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION payrail_refresh_account_daily() TO %I', role);
END
$$;
REVOKE ALL ON FUNCTION payrail_grant_app_role(name) FROM PUBLIC;

-- The ledger is append-only in the database too, not only in the code: a
-- ledger entry is never updated or deleted, and a payment that reached
-- `done` or `failed` never changes again. Whoever connects (the app, an
-- operator at a psql prompt, a bug) gets an error instead; only dropping
-- the trigger, which `payment-app audit` reports, gets around it.
CREATE FUNCTION payrail_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'payments' THEN
        RAISE EXCEPTION 'payment % is %: a settled payment never changes', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RAISE EXCEPTION 'ledger entries are append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION payrail_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION payrail_refuse_change();

-- Only rows already terminal fire it: settling a pending payment is an
-- UPDATE of a pending row, and costs nothing here.
CREATE TRIGGER payments_terminal_frozen
    BEFORE UPDATE OR DELETE ON payments
    FOR EACH ROW WHEN (OLD.status <> 'pending') EXECUTE FUNCTION payrail_refuse_change();

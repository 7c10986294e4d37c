-- Metadata: the client's own string map on accounts and payments, stored
-- as jsonb (the API checks keys and values; the database that it is an
-- object), searchable with `@>`.

ALTER TABLE accounts
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object');
ALTER TABLE payments
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object');

-- Only rows that have metadata are indexed: most payments carry none, and
-- every settle update of a payment row writes to each of its indexes. The
-- search queries say `metadata <> '{}'` beside their `@>`, which is what
-- lets the planner use these partial indexes.
CREATE INDEX accounts_by_metadata ON accounts USING gin (metadata jsonb_path_ops) WHERE metadata <> '{}';
CREATE INDEX payments_by_metadata ON payments USING gin (metadata jsonb_path_ops) WHERE metadata <> '{}';

-- A settled payment still never changes, except its metadata (and its
-- `updated_at`, which a metadata change moves): the client's references
-- are not the payment's state. DELETE gets a trigger of its own, since a
-- DELETE trigger's condition cannot see NEW.
DROP TRIGGER payments_terminal_frozen ON payments;
CREATE TRIGGER payments_terminal_frozen
    BEFORE UPDATE ON payments
    FOR EACH ROW
    WHEN (OLD.status <> 'pending'
          AND (to_jsonb(OLD) - 'metadata' - 'updated_at') IS DISTINCT FROM (to_jsonb(NEW) - 'metadata' - 'updated_at'))
    EXECUTE FUNCTION payrail_refuse_change();
CREATE TRIGGER payments_terminal_undeletable
    BEFORE DELETE ON payments
    FOR EACH ROW WHEN (OLD.status <> 'pending') EXECUTE FUNCTION payrail_refuse_change();

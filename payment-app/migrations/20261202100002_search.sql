-- Search: the payments of one status, newest first, by keyset on the id.
-- (By account: payments_by_payer / payments_by_payee; by metadata:
-- payments_by_metadata; by time: the id itself, which carries it.)
CREATE INDEX payments_by_status ON payments (status, id);

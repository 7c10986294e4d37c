-- Credit limits (issue 29): an account may spend down to -credit_limit.
-- Granting credit lets an account spend money nobody put into it, so the
-- API asks the `issue` scope for it and counts it like issuance: a limit
-- is bounded by MAX_ACCOUNT_ISSUANCE, and every account's limit is part of
-- `issuance_total`, checked against MAX_TOTAL_ISSUANCE. What positive
-- balances can add up to (issuance plus the credit used) therefore stays
-- within the total limit, as it did before credit: no balance, and no sum
-- of balances, comes near what a bigint holds.
--
-- The constraints are the last line behind settle's own checks and the
-- conditional update that changes a limit: the balance never below
-- -credit_limit, the held amount never past what balance and credit cover
-- (available = balance + credit_limit - held >= 0). Lowering a limit below
-- what the account already uses fails here too, whoever tries it.
ALTER TABLE accounts ADD COLUMN credit_limit bigint NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD CONSTRAINT accounts_credit_limit_check CHECK (credit_limit >= 0);
ALTER TABLE accounts DROP CONSTRAINT accounts_balance_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_balance_within_credit CHECK (balance >= -credit_limit);
ALTER TABLE accounts DROP CONSTRAINT accounts_held_covered;
ALTER TABLE accounts ADD CONSTRAINT accounts_held_covered CHECK (held >= 0 AND held <= balance + credit_limit);

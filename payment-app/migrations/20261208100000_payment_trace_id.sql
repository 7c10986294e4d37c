-- A payment's trace id (issue 31: the console's payment page shows it).
-- Written by intake's insert only when traces are on, NULL otherwise: a
-- NULL takes no bytes in the row (payments rows already carry a null
-- bitmap, for failure_reason), so with traces off nothing more is written.
-- With traces on it is 17 bytes a payment (16 and a 1-byte length) in the
-- row and in its WAL, in the insert intake already makes; nothing after
-- intake writes it. No index: the page reads it with the payment, by id.
-- Adding a nullable column without a default rewrites nothing.
ALTER TABLE payments ADD COLUMN trace_id bytea;

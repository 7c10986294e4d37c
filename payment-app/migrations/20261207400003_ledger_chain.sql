-- Tamper evidence (issue 29): the audit's checkpoints chain the ledger
-- itself. Each checkpoint written from now on carries `entries_hash`, a
-- SHA-256 over the previous checkpoint's hash and every ledger entry after
-- `entries_from` up to its `last_entry_id`, in id order (every column:
-- `domain::chain`), and its own hash covers that too, so the checkpoints'
-- hashes form one chain over the whole ledger. `payment-app audit
-- --verify-chain` recomputes every segment from the entries as they are
-- now: an entry edited, deleted or inserted before the last checkpoint, by
-- anyone, triggers or not, no longer gives the hash it had.
--
-- `accounts_digest` keeps the digest of the per-account sums the
-- checkpoint was written with (the table of sums holds the latest
-- checkpoint's only), so that every checkpoint's hash can be recomputed,
-- not only the latest's. Checkpoints written before this migration have
-- none of the three and stay as they were (their hash, version 1, still
-- verifies); the first chained checkpoint covers the ledger from its
-- first entry.
ALTER TABLE audit_checkpoints
    ADD COLUMN entries_from bigint,
    ADD COLUMN entries_hash text,
    ADD COLUMN accounts_digest text,
    ADD CONSTRAINT audit_checkpoints_chained CHECK (
        (entries_hash IS NULL) = (entries_from IS NULL) AND (entries_hash IS NULL) = (accounts_digest IS NULL));

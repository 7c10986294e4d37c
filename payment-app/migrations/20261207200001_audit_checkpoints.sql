-- The incremental audit (issue 27): what one audit verified, so the next
-- checks only what came after it. A checkpoint holds every ledger entry up
-- to `last_entry_id` summed per account (`audit_checkpoint_accounts`, the
-- latest checkpoint's only) and issuance per currency; the payments and
-- refunds still open when it was taken, and the id (UUID v7, time-ordered)
-- from which newer ones count as new. `hash` covers all of it and the
-- previous checkpoint's hash (HMAC-SHA-256 under AUDIT_CHECKPOINT_KEY when
-- set), so an edited checkpoint is refused instead of trusted.
CREATE TABLE audit_checkpoints (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Whether the run that wrote it checked all history (`audit --full`).
    full_run        boolean     NOT NULL,
    last_entry_id   bigint      NOT NULL,
    new_from        uuid        NOT NULL,
    open_payments   uuid[]      NOT NULL,
    open_refunds    uuid[]      NOT NULL,
    -- {"USD": "100000", ...}: issuance per currency, numeric minor units as text.
    issuance        jsonb       NOT NULL,
    previous_hash   text,
    hash            text        NOT NULL
);

CREATE TABLE audit_checkpoint_accounts (
    account_id  uuid    PRIMARY KEY,
    -- Sums of the account's entries up to the checkpoint: balance, and held.
    total       numeric NOT NULL,
    held        numeric NOT NULL
);

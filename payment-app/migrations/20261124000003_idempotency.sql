-- Idempotency keys: a client retry with the same key and request gets the
-- first answer back instead of creating anything again. Keys are kept for
-- 24 hours (the relay deletes older ones).
CREATE TABLE idempotency_keys (
    scope       text        NOT NULL CHECK (scope IN ('payment', 'account')),
    key         text        NOT NULL,
    -- The request as parsed and normalised, to tell a retry from a reuse.
    request     jsonb       NOT NULL,
    -- The first answer, replayed as it was.
    status      smallint    NOT NULL,
    response    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

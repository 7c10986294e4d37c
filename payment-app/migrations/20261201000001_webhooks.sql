-- Events and webhooks (issue 15).
--
-- `events` is an outbox: each row is written by the statement that changes
-- the payment it records (intake's insert, settle's move out of pending),
-- so an event exists exactly when its change committed. A payment's id,
-- accounts, amount, description and creation time never change; an event
-- keeps what does (status, failure reason, updated_at) as of itself, and
-- is shown joined with the rest.
CREATE TABLE events (
    id uuid PRIMARY KEY,
    type text NOT NULL CHECK (type IN ('payment.created', 'payment.done', 'payment.failed')),
    payment_id uuid NOT NULL REFERENCES payments (id),
    status text NOT NULL,
    failure_reason text,
    payment_updated_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- `events` NULL: every type, including types added later.
CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    events text[],
    description text,
    -- Kept recoverable (it has to sign); never logged, never shown after creation.
    secret text NOT NULL,
    -- After a rotation the old secret signs alongside the new one until it expires.
    previous_secret text,
    previous_secret_expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (endpoint, event) to send, written with the event (fan-out in
-- the same statement), so nothing committed can miss its endpoints.
-- `leased_until` marks an attempt in flight: a worker that dies mid-attempt
-- leaves a lease that expires, and the event is sent again (at least once).
CREATE TABLE webhook_deliveries (
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id uuid NOT NULL REFERENCES events (id),
    payment_id uuid NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    PRIMARY KEY (endpoint_id, event_id)
);

-- What is due at an endpoint, soonest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE state = 'pending';
-- A payment's earlier events still unsent to an endpoint hold its later ones back.
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, payment_id, event_id)
    WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    id uuid PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id uuid NOT NULL,
    attempt integer NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    error text,
    duration_ms integer NOT NULL,
    -- When the event is tried again; NULL once delivered or given up.
    next_retry_at timestamptz
);

CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);

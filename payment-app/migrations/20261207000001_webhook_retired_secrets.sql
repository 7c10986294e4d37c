-- Rotated-out webhook secrets (issue 26): each signs beside the current one
-- until 24 h after the rotation that retired it, as that rotation's answer
-- promised (`previous_secret_expires_at`). One column held one previous
-- secret, so a second rotation within 24 h dropped the first at once.
CREATE TABLE webhook_retired_secrets (
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    secret text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX webhook_retired_secrets_by_endpoint ON webhook_retired_secrets (endpoint_id, expires_at);

INSERT INTO webhook_retired_secrets (endpoint_id, secret, expires_at)
SELECT id, previous_secret, previous_secret_expires_at FROM webhook_endpoints
WHERE previous_secret IS NOT NULL AND previous_secret_expires_at > now();

-- No longer written or read. Kept for one release, so instances of the
-- previous one still running during a rolling upgrade keep working (they
-- sign with the current secret; a retired one they may miss).
COMMENT ON COLUMN webhook_endpoints.previous_secret IS 'unused since 20261207000001; drop in a later release';
COMMENT ON COLUMN webhook_endpoints.previous_secret_expires_at IS 'unused since 20261207000001; drop in a later release';

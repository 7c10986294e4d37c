-- The deliveries in flight (leased), for the claim's per-endpoint count:
-- without it the claim read every pending delivery to find the few leased
-- ones, and a receiver down for a day leaves a deep backlog.
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id)
    WHERE state = 'pending' AND leased_until IS NOT NULL;

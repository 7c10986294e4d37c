-- Console sessions (issue 31), kept here so that every API process behind
-- a load balancer knows them: a session opened through one replica is
-- accepted by the next, and signing out through any of them ends it for
-- all. Before, each process kept its own in memory, and behind two
-- replicas a sign-in was lost on every other request.
--
-- Only the SHA-256 of a session's id is kept (the id is 256 random bits,
-- the cookie's value): someone who reads this table cannot present one.
-- `binding` ties the session to the token it was opened with (SHA-256 of
-- the session id and that token), so a token taken out of API_TOKENS ends
-- its sessions even though they outlive the process; neither the token nor
-- anything derived from the token alone is stored.
CREATE TABLE console_sessions (
    id_hash    bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    -- The token's place in API_TOKENS, and the scopes it had at sign-in.
    token      integer NOT NULL CHECK (token >= 0),
    scopes     text[] NOT NULL,
    binding    bytea NOT NULL CHECK (length(binding) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
-- Expired sessions are removed at each sign-in, by this index.
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

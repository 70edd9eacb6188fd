-- journeygate store, version 12: sessions of the dealer inbox page (`/inbox`, docs/api.md,
-- "Inbox"). Signing in with an API key opens a session: a random token (32 bytes) in an HttpOnly
-- cookie, of which only the SHA-256 is stored here, with the key that opened it. A session works
-- while it has not expired and its key is live: rotating or revoking the key ends it at once.
-- `csrf_token` is the session's anti-forgery token, sent back in every form of the page.

CREATE TABLE dealer_sessions (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    dealer_id  text NOT NULL REFERENCES dealers (dealer_id) ON DELETE CASCADE,
    key_id     bigint NOT NULL REFERENCES dealer_keys (key_id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
-- Expired sessions are deleted at each sign-in.
CREATE INDEX dealer_sessions_expiry_idx ON dealer_sessions (expires_at);

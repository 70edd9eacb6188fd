-- journeygate store, version 9: the dealers of the HTTP API (`journeygate api`, docs/api.md) and
-- their API keys. `dealer_id` is the id the registry and the alerts use (`vehicles.dealer_id`,
-- `alerts.dealer_id`). A key is shown once when made (`journeygate dealers add|rotate-key`); only
-- its SHA-256 is stored (keys are 32 random bytes, so a plain hash cannot be reversed). A key
-- with `revoked_at` set no longer opens the API; rotating revokes every key of the dealer at once.

CREATE TABLE dealers (
    dealer_id  text PRIMARY KEY CHECK (dealer_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name       text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dealer_keys (
    key_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dealer_id  text NOT NULL REFERENCES dealers (dealer_id) ON DELETE CASCADE,
    key_hash   bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX dealer_keys_live_idx ON dealer_keys (dealer_id) WHERE revoked_at IS NULL;

-- The API lists a dealer's alerts newest first, a page after a (created_ts, alert_id) cursor.
CREATE INDEX alerts_dealer_page_idx ON alerts (dealer_id, created_ts DESC, alert_id DESC);

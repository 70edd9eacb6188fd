-- journeygate store, version 10: signed webhooks for dealer alerts (docs/api.md, "Webhooks").
-- A dealer's webhook is set with `journeygate dealers webhook set`; the secret signs every
-- request (HMAC-SHA256) and is kept as given, since signing needs it. The journey processor
-- writes one outbox row per alert it raises for a dealer with a webhook, in the transaction
-- that inserts the alert; `journeygate webhooks` delivers the rows at least once, each with its
-- delivery_id as the idempotency key.

CREATE TABLE dealer_webhooks (
    dealer_id  text PRIMARY KEY REFERENCES dealers (dealer_id) ON DELETE CASCADE,
    url        text NOT NULL CHECK (url ~ '^https?://'),
    secret     text NOT NULL CHECK (length(secret) >= 16),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- delivery_id: the alert_id for a raised alert ('{alert_id}:{action}' for later actions).
-- state: new (due at next_attempt_at; a sender that claims a row moves next_attempt_at past its
-- lease before sending, so a row whose sender died is sent again) -> delivered (a 2xx answer)
-- or dead (max attempts failed; `journeygate dealers webhook replay` makes it new again).
CREATE TABLE webhook_outbox (
    delivery_id     text PRIMARY KEY,
    dealer_id       text NOT NULL,
    alert_id        text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (state, next_attempt_at);
CREATE INDEX webhook_outbox_dealer_idx ON webhook_outbox (dealer_id, state);

-- journeygate store, version 11: the dealer API's alert stream (GET /v1/alerts/stream, docs/api.md)
-- reads a dealer's alerts in the order they were stored: (stored_at, alert_id) after a position,
-- once a second per open stream; without this index each read went through all of them.
CREATE INDEX alerts_dealer_stored_idx ON alerts (dealer_id, stored_at, alert_id);

-- journeygate store, version 15: the contact budget per owner (docs/journey.md, "Alerts").
-- A vehicle may name its owner (`owner_id`, from the registry file, docs/registry.md); a vehicle
-- without one is its own owner. The journey processor holds the alerts of all of an owner's
-- vehicles to one contact budget: each alert to a vehicle with an owner_id is recorded in
-- `owner_contacts` in the batch's transaction, and a batch with vehicles of an owner of several
-- vehicles reads that owner's contacts there under a per-owner transaction lock.

ALTER TABLE vehicles
    ADD COLUMN owner_id text CHECK (owner_id ~ '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$');
CREATE INDEX vehicles_owner_idx ON vehicles (owner_id) WHERE owner_id IS NOT NULL;

-- One row per alert raised to a vehicle with an owner (at most one alert per vehicle and
-- instant, so (vin, contact_ts) is the alert's identity; alert_id NULL for a contact the
-- vehicle's state held from before its owner was known). Event time.
CREATE TABLE owner_contacts (
    owner_id   text NOT NULL,
    vin        text NOT NULL,
    contact_ts timestamptz NOT NULL,
    alert_id   text,
    stored_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vin, contact_ts)
);
CREATE INDEX owner_contacts_owner_idx ON owner_contacts (owner_id, contact_ts);

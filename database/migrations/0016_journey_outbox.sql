-- journeygate store, version 16: the journey processor's records of dealer.alerts for batches
-- with vehicles of an owner of several vehicles (docs/journey.md, "The owner's budget"). Such a
-- batch's decisions depend on other members' batches of the same owner, so a replay after a
-- crash may decide otherwise: its records are written here in the batch's transaction, and
-- published to dealer.alerts (then deleted) only after the commit. Rows left by a crash are
-- published by the next member that drains (at start, and around every such batch).
CREATE TABLE journey_outbox (
    id           bigserial PRIMARY KEY,
    record_key   bytea NOT NULL,
    record_value bytea NOT NULL,
    alert_id     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

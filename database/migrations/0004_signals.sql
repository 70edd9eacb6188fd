-- journeygate store, version 4: the signals processor's state, history and views.
-- Written by `journeygate process signals` in one transaction per batch, with its consumer
-- offsets (consumer_offsets), so each batch is stored exactly once. Described in docs/store.md.
-- Money is numeric with its currency beside it; times are timestamptz (UTC).

-- Each vehicle's memory: usage state, service, wear and fault state, what was last published
-- (layout in processors/signals/memory.py; about 1 KB, under 2 KB with 32 active codes).
CREATE TABLE signal_state (
    vin        text PRIMARY KEY,
    state      bytea NOT NULL,
    as_of_ts   timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every published signal (the same records as Kafka vehicle.signals). signal_id embeds as_of_ts
-- ('{vin}:{kind}[:{subject}]:{as_of_ms}'), so the key (signal_id, as_of_ts) is as unique as
-- signal_id alone; as_of_ts is in it because a TimescaleDB hypertable's unique indexes must
-- contain its time column.
CREATE TABLE signals (
    signal_id   text NOT NULL,
    vin         text NOT NULL,
    dealer_id   text,
    kind        text NOT NULL
        CHECK (kind IN ('usage', 'warranty', 'service', 'equity', 'fault', 'quality')),
    as_of_ts    timestamptz NOT NULL,
    payload     jsonb NOT NULL,
    explanation text NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (signal_id, as_of_ts)
);
CREATE INDEX signals_vin_time_idx ON signals (vin, as_of_ts DESC);

-- Each vehicle's current view. as_of_ts, odometer_m, usage, active_faults and last_service are
-- rewritten whenever one of its records is processed; the forecasts (warranty, service with its
-- bill, equity) at each evaluation, as of predicted_as_of_ts: at least once per UTC day of event
-- time and every 100 km, at once after a visit or a change of codes.
CREATE TABLE vehicle_state (
    vin                text PRIMARY KEY,
    dealer_id          text,
    as_of_ts           timestamptz NOT NULL,
    odometer_m         bigint,
    usage              jsonb,
    active_faults      jsonb NOT NULL DEFAULT '[]',
    last_service       jsonb,
    predicted_as_of_ts timestamptz,
    warranty           jsonb,
    service            jsonb,
    equity             jsonb,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicle_state_dealer_idx ON vehicle_state (dealer_id);

-- Completed service visits as read from vehicle.services (a repeat of a visit_id is ignored).
CREATE TABLE service_visits (
    visit_id        text PRIMARY KEY,
    vin             text NOT NULL,
    visit_ts        timestamptz NOT NULL,
    odometer_m      bigint NOT NULL,
    dealer_id       text NOT NULL,
    currency        text NOT NULL,
    invoiced_amount numeric(12, 2) NOT NULL,
    items           jsonb NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_visits_vin_time_idx ON service_visits (vin, visit_ts DESC);

-- A visit's invoice against the service bill predicted for the vehicle before the visit.
-- abs_pct_error = |predicted_expected - invoiced| / invoiced * 100 (NULL when invoiced is 0).
CREATE TABLE bill_errors (
    visit_id           text PRIMARY KEY,
    vin                text NOT NULL,
    dealer_id          text NOT NULL,
    currency           text NOT NULL,
    predicted_low      numeric(12, 2) NOT NULL,
    predicted_expected numeric(12, 2) NOT NULL,
    predicted_high     numeric(12, 2) NOT NULL,
    invoiced           numeric(12, 2) NOT NULL,
    abs_pct_error      double precision,
    predicted_as_of_ts timestamptz NOT NULL,
    stored_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bill_errors_dealer_idx ON bill_errors (dealer_id);

-- With TimescaleDB available, the signal history becomes a hypertable; without it this block
-- does nothing and the same SQL reads the plain table.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('signals', 'as_of_ts',
                                  chunk_time_interval => interval '30 days',
                                  migrate_data => true);
    END IF;
END
$$;

-- journeygate store, version 1: vehicle registry, telemetry, exactly-once consumer offsets.
-- All times are timestamptz (UTC). Units are in column names.

CREATE TABLE vehicles (
    vin             text PRIMARY KEY CHECK (vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
    brand           text NOT NULL,
    model           text NOT NULL,
    model_year      integer NOT NULL CHECK (model_year BETWEEN 1980 AND 2100),
    powertrain      text NOT NULL CHECK (powertrain IN ('ice', 'hybrid', 'ev')),
    delivery_date   date NOT NULL,
    dealer_id       text NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicles_dealer_idx ON vehicles (dealer_id);

-- One row per sample. (vin, boot_id, seq, sample_idx) identifies a sample across MQTT
-- redelivery and Kafka retries; event_ts is part of the key because a TimescaleDB hypertable's
-- unique indexes must contain its time column (a repeat carries the same event_ts).
CREATE TABLE telemetry (
    vin                  text NOT NULL,
    boot_id              text NOT NULL,
    seq                  bigint NOT NULL,
    sample_idx           integer NOT NULL,
    event_ts             timestamptz NOT NULL,
    ingest_ts            timestamptz NOT NULL,
    odometer_m           bigint,
    speed_kmh            double precision,
    fuel_level_pct       double precision,
    soc_pct              double precision,
    battery_12v_v        double precision,
    engine_hours_h       double precision,
    oil_life_remaining_s bigint,
    dtcs                 text[],
    latitude_deg         double precision,
    longitude_deg        double precision,
    stored_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vin, boot_id, seq, sample_idx, event_ts)
);
CREATE INDEX telemetry_vin_time_idx ON telemetry (vin, event_ts DESC);

-- Kafka offsets of stages that write here, committed in the same transaction as their rows.
-- next_offset is the offset of the next record to read (Kafka's committed-offset convention).
CREATE TABLE consumer_offsets (
    consumer_group  text NOT NULL,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset     bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

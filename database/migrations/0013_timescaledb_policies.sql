-- journeygate store, version 13: the signal history compressed on TimescaleDB, and the distance
-- each vehicle drove each UTC day (daily_distance), for analysts and dashboards.
-- With TimescaleDB (see 0002): `signals` is compressed by vehicle; `daily_distance` is a
-- continuous aggregate over `telemetry`, refreshed every hour for the last 30 days. Retention
-- and compression ages are applied by `journeygate migrate` from its settings on every run
-- (docs/store.md, "TimescaleDB"), so they can change without a migration. Without TimescaleDB
-- `daily_distance` is a plain view with the same columns, read with the same SQL.
-- Left plain: journey_events, alerts, bill_errors, service_visits, webhook_outbox (their keys do
-- not hold a time column, which a hypertable's unique indexes need, and they grow with alerts
-- and visits, not with telemetry); consent_changes, whose key holds changed_at, because a
-- retention policy would drop the only change of a purpose and with it the consent in force.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        ALTER TABLE signals SET (timescaledb.compress,
                                 timescaledb.compress_segmentby = 'vin',
                                 timescaledb.compress_orderby = 'as_of_ts DESC, signal_id');
        EXECUTE $v$
            CREATE MATERIALIZED VIEW daily_distance
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT vin,
                   time_bucket(INTERVAL '1 day', event_ts) AS day,
                   min(odometer_m) AS first_odometer_m,
                   max(odometer_m) AS last_odometer_m,
                   (max(odometer_m) - min(odometer_m)) / 1000.0 AS km,
                   count(odometer_m) AS readings
            FROM telemetry
            GROUP BY vin, time_bucket(INTERVAL '1 day', event_ts)
            WITH NO DATA
        $v$;
        PERFORM add_continuous_aggregate_policy('daily_distance',
            start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '1 hour');
    ELSE
        CREATE VIEW daily_distance AS
        SELECT vin,
               date_trunc('day', event_ts, 'UTC') AS day,
               min(odometer_m) AS first_odometer_m,
               max(odometer_m) AS last_odometer_m,
               (max(odometer_m) - min(odometer_m)) / 1000.0 AS km,
               count(odometer_m) AS readings
        FROM telemetry
        GROUP BY vin, date_trunc('day', event_ts, 'UTC');
    END IF;
END
$$;

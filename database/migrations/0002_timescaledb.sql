-- With TimescaleDB available, telemetry becomes a hypertable with compression and retention.
-- Without it this migration does nothing: the same tables stay plain and reads use the same SQL.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries') LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        PERFORM create_hypertable('telemetry', 'event_ts',
                                  chunk_time_interval => interval '7 days',
                                  migrate_data => true);
        ALTER TABLE telemetry SET (timescaledb.compress,
                                   timescaledb.compress_segmentby = 'vin',
                                   timescaledb.compress_orderby = 'event_ts DESC, boot_id, seq, sample_idx');
        PERFORM add_compression_policy('telemetry', interval '30 days');
        PERFORM add_retention_policy('telemetry', interval '3 years');
    END IF;
END
$$;

-- journeygate store, version 20: the fleet's usage shift per partition of telemetry.frames
-- (processors/signals/fleetshift.py, docs/signals.md "The fleet's usage shift"). Written by
-- `journeygate process signals` in the transaction of each batch, with the partition's offset:
-- next_offset never moves backwards, and a row is replaced only by the state of a batch that
-- reaches at least as far in the partition, so a batch replayed after a crash cannot rewind it.
CREATE TABLE usage_shift (
    consumer_group  text    NOT NULL,
    topic           text    NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset     bigint  NOT NULL,
    -- {"day": UTC day of the newest frame (days since the epoch), "shift": bins in force,
    --  "counts": [vehicles per bin of log(recent / lifetime rate) in the 28-day epoch of "day",
    --             41 bins from -1.0 to +1.0], "previous": [the same in the epoch before]}
    state           jsonb   NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- When the journey processor evaluates a vehicle again without a new input (time alone opens a
-- gate or reaches a deadline stage: processors/journey/clock.py), and the partition of its
-- inputs: each batch wakes the vehicles of its partitions whose wake_ts its event time passed.
-- NULL until the processor next writes the vehicle's state.
ALTER TABLE journey_state ADD COLUMN wake_ts timestamptz, ADD COLUMN kafka_partition integer;
CREATE INDEX journey_state_wake ON journey_state (kafka_partition, wake_ts)
    WHERE wake_ts IS NOT NULL;

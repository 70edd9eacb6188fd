"""Names of the Kafka record headers every stage reads or writes (docs/payload.md)."""

from __future__ import annotations

HEADER_MQTT_TOPIC = "mqtt_topic"
HEADER_INGEST_TS_MS = "ingest_ts_ms"
HEADER_BRIDGE_ID = "bridge_id"
HEADER_FRAME_ID = "frame_id"
# On a frame: its newest sample's event time (ms since the epoch), for latency metrics downstream.
HEADER_EVENT_TS_MS = "event_ts_ms"
HEADER_DLQ_STAGE = "dlq_stage"
HEADER_DLQ_REASON = "dlq_reason"
HEADER_DLQ_DETAIL = "dlq_detail"
HEADER_DLQ_SOURCE_TOPIC = "dlq_source_topic"
HEADER_DLQ_SOURCE_PARTITION = "dlq_source_partition"
HEADER_DLQ_SOURCE_OFFSET = "dlq_source_offset"
HEADER_DLQ_TS_MS = "dlq_ts_ms"
# Set when a dead letter's value was cut (oversize): the size and digest of the whole payload.
HEADER_DLQ_ORIGINAL_BYTES = "dlq_original_bytes"
HEADER_DLQ_ORIGINAL_SHA256 = "dlq_original_sha256"
# On a record that marks a dead letter as replayed (`journeygate dlq replay`): the dead letter's
# "partition:offset" on the dead-letter topic. Such a marker is not itself a dead letter.
HEADER_DLQ_REPLAY_OF = "dlq_replay_of"
# On a replayed record: where its dead letter was ("topic:partition:offset"), and when it was
# replayed (ms since the epoch; the normalizer judges an unknown VIN's registry by it).
HEADER_REPLAYED_FROM = "replayed_from"
HEADER_REPLAYED_TS_MS = "replayed_ts_ms"

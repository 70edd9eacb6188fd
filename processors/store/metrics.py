"""The store writer's Prometheus metrics, behind one small interface.

Labels are bounded: ``reason`` is a stable code and ``partition`` a partition number.
"""

from __future__ import annotations

from collections.abc import Sequence

from kernel.metrics import (
    BATCH_BUCKETS,
    EVENT_LATENCY_BUCKETS_S,
    BatchHistogram,
    counter,
    gauge,
    histogram,
)

STAGE = "store"

_consumed = counter(STAGE, "consumed_total", "Kafka records consumed from telemetry.frames.")
_rows_written = counter(STAGE, "rows_written_total", "Samples newly stored in the telemetry table.")
_duplicates = counter(
    STAGE, "duplicates_absorbed_total", "Samples already stored, dropped by ON CONFLICT DO NOTHING."
)
_batches = counter(STAGE, "batches_total", "Batches committed to PostgreSQL.")
_dead_lettered = counter(
    STAGE, "dead_lettered_total", "Records sent to the dead-letter topic.", ("reason",)
)
_db_retries = counter(
    STAGE, "db_retries_total", "Batch writes retried after a PostgreSQL connection failure."
)
_dlq_retries = counter(
    STAGE, "dlq_retries_total", "Dead-letter sends retried after a Kafka failure."
)
_kafka_commit_failures = counter(
    STAGE,
    "kafka_commit_failures_total",
    "Informational Kafka offset commits that failed (PostgreSQL holds the real offsets).",
)
_batch_rows = histogram(STAGE, "batch_rows", "Rows per committed batch.", BATCH_BUCKETS)
_commit_seconds = histogram(
    STAGE, "commit_seconds", "Time to write one batch: COPY, INSERT, offsets and COMMIT."
)
_next_offset = gauge(
    STAGE, "next_offset", "Next offset to read, as committed in PostgreSQL.", ("partition",)
)
_lag = gauge(
    STAGE,
    "lag_records",
    "Records between the committed offset and the partition end.",
    ("partition",),
)


_receipts = counter(
    STAGE,
    "receipts_total",
    "Receipts read from telemetry.receipts: messages the normalizer dead-lettered (covered) or "
    "dropped as repeats.",
    ("kind",),
)
_seq_gaps = counter(
    STAGE,
    "seq_gaps_total",
    "Sequence numbers found missing below a vehicle boot's highest handled one (stored or "
    "dead-lettered); a loss until a repeat fills it.",
)
_seq_gaps_filled = counter(
    STAGE, "seq_gaps_filled_total", "Missing sequence numbers handled later (a gap filled)."
)
_acks_sent = counter(
    STAGE,
    "acks_sent_total",
    "Acknowledgements sent to telemetry.acks (one per vehicle and boot per interval).",
)
_ack_send_failures = counter(
    STAGE, "ack_send_failures_total", "Sends of acknowledgements Kafka refused (sent again later)."
)

_event_to_store = BatchHistogram(
    STAGE,
    "event_to_store_seconds",
    "From a frame's newest sample's event time to the commit that stored it.",
    EVENT_LATENCY_BUCKETS_S,
)
_ingest_to_store = BatchHistogram(
    STAGE,
    "ingest_to_store_seconds",
    "From the bridge receiving a message to the commit that stored its frame.",
    EVENT_LATENCY_BUCKETS_S,
)


class StoreMetrics:
    """What the runner reports; the only place that touches the metric objects."""

    def consumed(self, records: int) -> None:
        _consumed.inc(records)

    def dead_lettered(self, reason: str) -> None:
        _dead_lettered.labels(reason=reason).inc()

    def batch_committed(self, *, rows: int, inserted: int, seconds: float) -> None:
        _batches.inc()
        _rows_written.inc(inserted)
        _duplicates.inc(rows - inserted)
        _batch_rows.observe(rows)
        _commit_seconds.observe(seconds)

    def stored(self, now_ms: int, event_ms: Sequence[int], ingest_ms: Sequence[int]) -> None:
        """The latencies of a committed batch's frames (those whose headers carry the times)."""
        _event_to_store.observe_many([(now_ms - t) / 1000 for t in event_ms])
        _ingest_to_store.observe_many([(now_ms - t) / 1000 for t in ingest_ms])

    def offset_committed(self, partition: int, next_offset: int, highwater: int | None) -> None:
        _next_offset.labels(partition=str(partition)).set(next_offset)
        if highwater is not None:
            _lag.labels(partition=str(partition)).set(max(0, highwater - next_offset))

    def db_retry(self) -> None:
        _db_retries.inc()

    def receipts(self, covering: int, repeats: int) -> None:
        if covering:
            _receipts.labels(kind="dead_letter").inc(covering)
        if repeats:
            _receipts.labels(kind="repeat").inc(repeats)

    def gaps(self, opened: int, filled: int) -> None:
        if opened:
            _seq_gaps.inc(opened)
        if filled:
            _seq_gaps_filled.inc(filled)

    def acks_sent(self, count: int) -> None:
        _acks_sent.inc(count)

    def ack_send_failed(self) -> None:
        _ack_send_failures.inc()

    def dlq_retry(self) -> None:
        _dlq_retries.inc()

    def kafka_commit_failed(self) -> None:
        _kafka_commit_failures.inc()

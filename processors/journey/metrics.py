"""The journey processor's Prometheus metrics, behind one small interface.

Labels are bounded: ``input`` (signals, visits, consent), ``type`` (the nine alert types),
``event`` (timeline event kinds), ``action`` (hidden, expired), ``reason``. Never a VIN.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from kernel.metrics import (
    BATCH_BUCKETS,
    EVENT_LATENCY_BUCKETS_S,
    BatchHistogram,
    PartitionLag,
    counter,
    histogram,
)

STAGE = "journey"

_consumed = counter(
    STAGE, "consumed_total", "Kafka records consumed, by input (signals, visits, consent).",
    ("input",),
)  # fmt: skip
_alerts = counter(STAGE, "alerts_raised_total", "Alerts raised, by type.", ("type",))
_changes = counter(
    STAGE, "alert_changes_total", "Open alerts hidden or expired, by action.", ("action",)
)
_events = counter(STAGE, "timeline_events_total", "Timeline rows written, by event.", ("event",))
_dead = counter(STAGE, "dead_lettered_total", "Records sent to the dead-letter topic.", ("reason",))
_batches = counter(STAGE, "batches_total", "Batches committed to PostgreSQL.")
_db_retries = counter(STAGE, "db_retries_total", "Database operations retried after a failure.")
_kafka_retries = counter(STAGE, "kafka_retries_total", "Sends retried after a Kafka failure.")
_commit_failures = counter(
    STAGE, "kafka_commit_failures_total", "Informational Kafka offset commits that failed."
)
_state_reads = counter(
    STAGE, "state_reads_total",
    "Vehicle states a batch needed, by source: cache (committed earlier by this member) or"
    " store (read back from journey_state, or new).",
    ("source",),
)  # fmt: skip
_registry_reads = counter(
    STAGE, "registry_reads_total",
    "Registry rows a batch needed, by source: cache (read at the registry's current version)"
    " or store.",
    ("source",),
)  # fmt: skip
_batch_records = histogram(STAGE, "batch_records", "Records per committed batch.", BATCH_BUCKETS)
_batch_seconds = histogram(STAGE, "batch_seconds", "Time from a polled batch to its commit.")
_compute_seconds = histogram(STAGE, "compute_seconds", "Time to fold a batch (pure logic).")


_event_to_alert = BatchHistogram(
    STAGE,
    "event_to_alert_seconds",
    "From the event time an alert is raised for (the sample's or the evaluation's) to the"
    " commit that stored it, after dealer.alerts acknowledged it.",
    EVENT_LATENCY_BUCKETS_S,
)


_lag = PartitionLag(STAGE)


class JourneyMetrics:
    def positions(
        self, offsets: Mapping[tuple[str, int], int], end: Callable[[str, int], int | None]
    ) -> None:
        """Committed positions (next offsets) and where each partition ends: the lag."""
        _lag.committed(offsets, end)

    def consumed(self, counts: Counter[str]) -> None:
        for name, n in counts.items():
            _consumed.labels(name).inc(n)

    def state_reads(self, cached: int, stored: int) -> None:
        _state_reads.labels("cache").inc(cached)
        _state_reads.labels("store").inc(stored)

    def registry_reads(self, cached: int, stored: int) -> None:
        _registry_reads.labels("cache").inc(cached)
        _registry_reads.labels("store").inc(stored)

    def computed(self, seconds: float) -> None:
        _compute_seconds.observe(seconds)

    def published(
        self, alert_types: Iterable[str], actions: Iterable[str], events: Iterable[str]
    ) -> None:
        for kind, n in Counter(alert_types).items():
            _alerts.labels(kind).inc(n)
        for action, n in Counter(actions).items():
            _changes.labels(action).inc(n)
        for event, n in Counter(events).items():
            _events.labels(event).inc(n)

    def dead_lettered(self, reason: str) -> None:
        _dead.labels(reason).inc()

    def alerts_stored(self, now_ms: int, raised_at_ms: Iterable[int]) -> None:
        _event_to_alert.observe_many([(now_ms - t) / 1000 for t in raised_at_ms])

    def committed(self, records: int, seconds: float) -> None:
        _batches.inc()
        _batch_records.observe(records)
        _batch_seconds.observe(seconds)

    def db_retry(self) -> None:
        _db_retries.inc()

    def kafka_retry(self) -> None:
        _kafka_retries.inc()

    def kafka_commit_failed(self) -> None:
        _commit_failures.inc()

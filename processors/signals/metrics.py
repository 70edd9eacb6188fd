"""The signals processor's Prometheus metrics, behind one small interface.

Labels are bounded: ``input`` (frames, visits), ``kind`` (the six signal kinds), ``reason`` (a
stable code), ``partition`` a partition number. Never a VIN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from kernel.metrics import (
    BATCH_BUCKETS,
    BatchHistogram,
    PartitionLag,
    counter,
    gauge,
    histogram,
)
from processors.signals.fleetshift import shift_log
from processors.signals.partition import PartitionState

STAGE = "signals"
STATE_BYTES_BUCKETS = (256, 384, 512, 768, 1024, 1536, 2048, 4096)
PCT_ERROR_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 50, 75, 100, 200)
USAGE_RATIO_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.87, 0.93, 1.0, 1.07, 1.15, 1.25, 1.4, 1.6, 2.0)

_consumed = counter(
    STAGE, "consumed_total", "Kafka records consumed, by input (frames, visits).", ("input",)
)
_emitted = counter(
    STAGE, "signals_emitted_total", "Signals published to vehicle.signals, by kind.", ("kind",)
)
_quality = counter(
    STAGE,
    "quality_events_total",
    "Data-quality events (flagged odometer readings, unknown vehicles or models), by reason.",
    ("reason",),
)
_evaluations = counter(
    STAGE, "evaluations_total", "Vehicle evaluations (predictions checked for material changes)."
)
_repeated_visits = counter(
    STAGE, "repeated_visits_total", "Service visits seen again and ignored (same visit_id)."
)
_dead_lettered = counter(
    STAGE, "dead_lettered_total", "Records sent to the dead-letter topic.", ("reason",)
)
_batches = counter(STAGE, "batches_total", "Batches committed to PostgreSQL.")
_db_retries = counter(
    STAGE, "db_retries_total", "Database operations retried after a PostgreSQL failure."
)
_kafka_retries = counter(
    STAGE, "kafka_retries_total", "Signal or dead-letter sends retried after a Kafka failure."
)
_kafka_commit_failures = counter(
    STAGE,
    "kafka_commit_failures_total",
    "Informational Kafka offset commits that failed (PostgreSQL holds the real offsets).",
)
_batch_records = histogram(STAGE, "batch_records", "Records per committed batch.", BATCH_BUCKETS)
_batch_seconds = histogram(
    STAGE, "batch_seconds", "Time from a polled batch to its commit: compute, publish, write."
)
_compute_seconds = histogram(
    STAGE, "compute_seconds", "Time to fold a batch into the vehicles' memories (pure logic)."
)
_state_bytes = BatchHistogram(
    STAGE,
    "state_bytes",
    "Size of each vehicle memory written to signal_state.",
    STATE_BYTES_BUCKETS,
)
_bill_errors = counter(
    STAGE, "bill_errors_total", "Service visits scored against the bill predicted before them."
)
_bill_pct = BatchHistogram(
    STAGE,
    "bill_abs_pct_error",
    "Absolute error of the predicted service bill against the invoice, percent of the invoice.",
    PCT_ERROR_BUCKETS,
)
_usage_ratio = BatchHistogram(
    STAGE,
    "usage_recent_to_lifetime",
    "Each evaluation's recent distance per day over the vehicle's lifetime rate (vehicles with a"
    " year or more of lifetime before the recent days): a fleet whose median leaves 1 drives"
    " more or less than its habit all at once (a season): the part of it in force in each"
    " partition is journeygate_signals_usage_shift.",
    USAGE_RATIO_BUCKETS,
)
_usage_shift = gauge(
    STAGE,
    "usage_shift",
    "The fleet's usage shift in force in a partition of telemetry.frames: the log of the rate"
    " ratio taken off every vehicle's recent rate (0: none), the median of its vehicles'"
    " log(recent / lifetime rate) at the partition's last new day of frames.",
    ("partition",),
)
_usage_shift_vehicles = gauge(
    STAGE,
    "usage_shift_vehicles",
    "Vehicles counted in a partition's usage shift (those with a year of lifetime before four"
    " weeks of recent days); the shift stays 0 under 20.",
    ("partition",),
)
_dealer_lines = gauge(
    STAGE,
    "dealer_price_lines",
    "Invoice lines pooled in a partition's dealers' price levels (all its dealers): a bill is"
    " priced at its dealer's pool where that counts more lines than the vehicle's own invoices.",
    ("partition",),
)
_dealer_pools = gauge(
    STAGE,
    "dealer_price_dealers",
    "Dealers with a pooled price level in a partition.",
    ("partition",),
)
_cached = gauge(STAGE, "cached_vehicles", "Vehicle memories held in memory.")
_next_offset = gauge(
    STAGE,
    "next_offset",
    "Next offset to read, as committed in PostgreSQL.",
    ("topic", "partition"),
)


_lag = PartitionLag(STAGE)


class SignalsMetrics:
    """What the runner reports; the only place that touches the metric objects."""

    def positions(
        self, offsets: Mapping[tuple[str, int], int], end: Callable[[str, int], int | None]
    ) -> None:
        """Committed positions (next offsets) and where each partition ends: the lag."""
        _lag.committed(offsets, end)

    def consumed(self, frames: int, visits: int) -> None:
        _consumed.labels(input="frames").inc(frames)
        _consumed.labels(input="visits").inc(visits)

    def dead_lettered(self, reason: str) -> None:
        _dead_lettered.labels(reason=reason).inc()

    def computed(self, seconds: float) -> None:
        """A batch folded in ``seconds`` (all its segments)."""
        _compute_seconds.observe(seconds)

    def folded(
        self,
        *,
        evaluations: int,
        quality: Mapping[str, int],
        repeated_visits: int,
        usage_ratios: Sequence[float] = (),
    ) -> None:
        _evaluations.inc(evaluations)
        _usage_ratio.observe_many(usage_ratios)
        _repeated_visits.inc(repeated_visits)
        for reason, n in quality.items():
            _quality.labels(reason=reason).inc(n)

    def emitted(self, by_kind: Mapping[str, int]) -> None:
        for kind, n in by_kind.items():
            _emitted.labels(kind=kind).inc(n)

    def committed(
        self,
        *,
        records: int,
        seconds: float,
        state_sizes: Sequence[int],
        bill_pct_errors: Sequence[float],
        bill_errors: int,
        cached: int,
        states: Mapping[int, PartitionState] | None = None,
    ) -> None:
        _batches.inc()
        _batch_records.observe(records)
        _batch_seconds.observe(seconds)
        _state_bytes.observe_many([float(n) for n in state_sizes])
        _bill_errors.inc(bill_errors)
        _bill_pct.observe_many(bill_pct_errors)
        _cached.set(cached)
        for partition, state in (states or {}).items():
            label = str(partition)
            _usage_shift.labels(partition=label).set(shift_log(state.shift.shift))
            _usage_shift_vehicles.labels(partition=label).set(state.shift.vehicles)
            pools = state.prices.dealers
            _dealer_lines.labels(partition=label).set(sum(lines for _, lines, _ in pools))
            _dealer_pools.labels(partition=label).set(len(pools))

    def offset_committed(self, topic: str, partition: int, next_offset: int) -> None:
        _next_offset.labels(topic=topic, partition=str(partition)).set(next_offset)

    def db_retry(self) -> None:
        _db_retries.inc()

    def kafka_retry(self) -> None:
        _kafka_retries.inc()

    def kafka_commit_failed(self) -> None:
        _kafka_commit_failures.inc()

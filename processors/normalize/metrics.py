"""The normalizer's metrics (``journeygate_normalize_*``), behind one small interface."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kernel import metrics as m
from kernel.metrics import PartitionLag
from processors.normalize.logic import BatchPlan

STAGE = "normalize"

_consumed = m.counter(STAGE, "consumed_total", "Records read from telemetry.raw.")
_frames = m.counter(STAGE, "frames_total", "Frames produced on telemetry.frames.")
_samples = m.counter(STAGE, "samples_total", "Samples in the frames produced.")
_dead = m.counter(
    STAGE, "dead_lettered_total", "Records sent to telemetry.dlq, by reason.", ("reason",)
)
_duplicates = m.counter(
    STAGE, "duplicates_total", "Repeats of a recent (vin, boot_id, seq) dropped, not produced."
)
_gaps = m.counter(
    STAGE, "seq_gaps_total", "Sequence numbers skipped within a (vin, boot_id), as first seen."
)
_warnings = m.counter(
    STAGE,
    "vin_check_digit_warnings_total",
    "Valid messages whose non-North-American VIN fails the ISO 3779 check digit.",
)
_batch = m.histogram(STAGE, "batch_size", "Records per consumed batch.", buckets=m.BATCH_BUCKETS)
_refreshes = m.counter(STAGE, "registry_loads_total", "Loads of the vehicle registry.")
_load_failures = m.counter(
    STAGE, "registry_load_failures_total", "Registry loads that failed and will be retried."
)
_registered = m.gauge(STAGE, "registry_vins", "VINs in the last registry load.")


_lag = PartitionLag(STAGE)


class NormalizeMetrics:
    """Records what one batch did and what the registry holds."""

    def positions(
        self, offsets: Mapping[tuple[str, int], int], end: Callable[[str, int], int | None]
    ) -> None:
        """Committed positions (next offsets) and where each partition ends: the lag."""
        _lag.committed(offsets, end)

    def batch(self, consumed: int, plan: BatchPlan) -> None:
        _consumed.inc(consumed)
        _batch.observe(consumed)
        _frames.inc(plan.frames)
        _samples.inc(plan.samples)
        _duplicates.inc(plan.duplicates)
        _gaps.inc(plan.seq_gaps)
        _warnings.inc(plan.check_digit_warnings)
        for reason, count in plan.dead_by_reason().items():
            _dead.labels(reason=reason.value).inc(count)

    def registry_loaded(self, vins: int) -> None:
        _refreshes.inc()
        _registered.set(vins)

    def registry_load_failed(self) -> None:
        _load_failures.inc()

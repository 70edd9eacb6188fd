"""Prometheus metrics of the simulator, in the simulator's own registry (see kernel.metrics)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter

from kernel.metrics import counter, gauge

STAGE = "simulator"

_published = counter(
    STAGE, "messages_published_total", "MQTT publishes handed to the client, by kind", ("kind",)
)
_faults = counter(
    STAGE,
    "faults_injected_total",
    "Published messages by injected fault (a message may carry several)",
    ("fault",),
)
_acknowledged = counter(STAGE, "messages_acknowledged_total", "Publishes acknowledged (PUBACK)")
_rejected = counter(
    STAGE,
    "messages_rejected_total",
    "Publishes the broker refused (MQTT 5 PUBACK reason code 0x80 or above), by reason",
    ("reason",),
)
_inflight = gauge(STAGE, "inflight_messages", "Publishes waiting for their PUBACK")


class PublishMetrics:
    """Brings the counters up to date from running totals, once per progress tick."""

    def __init__(self) -> None:
        self._published: dict[str, int] = {}
        self._faults: dict[str, int] = {}
        self._rejected: dict[str, int] = {}
        self._acknowledged = 0

    def update(
        self,
        published_by_kind: Mapping[str, int],
        acknowledged: int,
        inflight: int,
        faults: Mapping[str, int] | None = None,
        rejected_by_reason: Mapping[str, int] | None = None,
    ) -> None:
        _advance(_published, "kind", published_by_kind, self._published)
        _advance(_faults, "fault", faults or {}, self._faults)
        _advance(_rejected, "reason", rejected_by_reason or {}, self._rejected)
        if acknowledged > self._acknowledged:
            _acknowledged.inc(acknowledged - self._acknowledged)
            self._acknowledged = acknowledged
        _inflight.set(inflight)


def _advance(metric: Counter, label: str, totals: Mapping[str, int], seen: dict[str, int]) -> None:
    for value, total in totals.items():
        delta = total - seen.get(value, 0)
        if delta > 0:
            metric.labels(**{label: value}).inc(delta)
        seen[value] = total

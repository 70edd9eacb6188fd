"""Prometheus metrics of the simulator (served when the process exposes a metrics endpoint)."""

from __future__ import annotations

from collections.abc import Mapping

from journeygate.metrics import counter, gauge

STAGE = "simulator"

_published = counter(
    STAGE, "messages_published_total", "MQTT publishes handed to the client, by kind", ("kind",)
)
_acknowledged = counter(STAGE, "messages_acknowledged_total", "Publishes acknowledged (PUBACK)")
_inflight = gauge(STAGE, "inflight_messages", "Publishes waiting for their PUBACK")


class PublishMetrics:
    """Brings the counters up to date from running totals, once per progress tick."""

    def __init__(self) -> None:
        self._published: dict[str, int] = {}
        self._acknowledged = 0

    def update(
        self, published_by_kind: Mapping[str, int], acknowledged: int, inflight: int
    ) -> None:
        for kind, total in published_by_kind.items():
            delta = total - self._published.get(kind, 0)
            if delta > 0:
                _published.labels(kind=kind).inc(delta)
            self._published[kind] = total
        if acknowledged > self._acknowledged:
            _acknowledged.inc(acknowledged - self._acknowledged)
            self._acknowledged = acknowledged
        _inflight.set(inflight)

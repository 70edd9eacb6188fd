"""Prometheus metrics of the simulator, in the simulator's own registry (see kernel.metrics)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter

from kernel.metrics import counter, gauge
from simulator.publishing.downlink import DownlinkCounts

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
_acks = counter(
    STAGE, "acks_received_total", "Acknowledgements received on the vehicles' ack topics"
)
_resent = counter(
    STAGE,
    "messages_resent_total",
    "Publishes of a message sent again: unconfirmed after a reconnect or a timeout",
)
_dropped = counter(
    STAGE,
    "messages_dropped_unconfirmed_total",
    "Messages a device dropped unconfirmed because its outbox was full",
)
_unconfirmed = gauge(
    STAGE, "unconfirmed_messages", "Messages devices keep until an acknowledgement covers them"
)


class PublishMetrics:
    """Brings the counters up to date from running totals, once per progress tick."""

    def __init__(self) -> None:
        self._published: dict[str, int] = {}
        self._faults: dict[str, int] = {}
        self._rejected: dict[str, int] = {}
        self._acknowledged = 0
        self._downlink: dict[str, int] = {}

    def update(
        self,
        published_by_kind: Mapping[str, int],
        acknowledged: int,
        inflight: int,
        faults: Mapping[str, int] | None = None,
        rejected_by_reason: Mapping[str, int] | None = None,
        downlink: DownlinkCounts | None = None,
    ) -> None:
        _advance(_published, "kind", published_by_kind, self._published)
        if downlink is not None:
            for metric, name, total in (
                (_acks, "acks", downlink.acks),
                (_resent, "resent", downlink.resent),
                (_dropped, "dropped", downlink.dropped),
            ):
                delta = total - self._downlink.get(name, 0)
                if delta > 0:
                    metric.inc(delta)
                self._downlink[name] = total
            _unconfirmed.set(downlink.unconfirmed)
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

"""The bridge's Prometheus metrics, behind a handful of functions the runner calls per batch."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from typing import Any

from ingest.logic import Pending
from kernel.metrics import BatchHistogram, counter, gauge

STAGE = "bridge"

RECEIVED = counter(STAGE, "received_total", "MQTT messages received from the broker.")
FORWARDED = counter(
    STAGE, "forwarded_total", "Messages stored in telemetry.raw and acknowledged to the broker."
)
DEAD_LETTERED = counter(
    STAGE, "dead_lettered_total", "Messages stored in telemetry.dlq and acknowledged.", ("reason",)
)
ACK_LATENCY = BatchHistogram(
    STAGE, "ack_latency_seconds", "Time from receiving a message to queueing its PUBACK."
)
INFLIGHT = gauge(
    STAGE, "inflight_messages", "Messages received but not yet acknowledged to the broker."
)
CONNECTED = gauge(STAGE, "connected", "1 while connected and subscribed to the MQTT broker.")
RECONNECTS = counter(
    STAGE, "reconnects_total", "MQTT sessions re-established after a lost connection."
)


def received(count: int) -> None:
    RECEIVED.inc(count)


def completed(batch: Sequence[Pending[Any]], now_s: float) -> None:
    """Count a batch of messages Kafka acknowledged and record their ack latency."""
    if not batch:
        return
    reasons = Tally(p.reason for p in batch)
    forwarded = reasons.pop(None, 0)
    if forwarded:
        FORWARDED.inc(forwarded)
    for reason, count in reasons.items():
        DEAD_LETTERED.labels(reason=reason).inc(count)
    ACK_LATENCY.observe_many([now_s - p.received_s for p in batch])


def inflight(count: int) -> None:
    INFLIGHT.set(count)


def connected(again: bool) -> None:
    CONNECTED.set(1)
    if again:
        RECONNECTS.inc()


def disconnected() -> None:
    CONNECTED.set(0)


ACKS_PUBLISHED = counter(
    STAGE,
    "acks_published_total",
    "Acknowledgements from telemetry.acks published on vehicles' {root}/{VIN}/ack topics "
    "(the broker acknowledged them).",
)
ACKS_SKIPPED = counter(
    STAGE, "acks_skipped_total", "Lines of telemetry.acks records that were no acknowledgement."
)
ACK_RELAY_CONNECTED = gauge(
    STAGE, "ack_relay_connected", "1 while the acknowledgement relay's MQTT connection is open."
)


def acks_published(count: int, skipped: int) -> None:
    ACKS_PUBLISHED.inc(count)
    if skipped:
        ACKS_SKIPPED.inc(skipped)


def ack_relay_connected(up: bool) -> None:
    ACK_RELAY_CONNECTED.set(1 if up else 0)

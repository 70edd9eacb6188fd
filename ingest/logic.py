"""Pure decisions of the MQTT→Kafka bridge: where a message goes and what may be acked.

Nothing here touches a socket (the one clock read is the ``dlq_ts_ms`` stamp that
:func:`kernel.kafka.dlq_headers` adds); the runner passes values in and acts on the results.
"""

from __future__ import annotations

import hashlib
import re
from asyncio import CancelledError
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, Protocol, TypeVar

from kernel import headers as h
from kernel.acks import ack_topic, decode_ack_lines, encode_ack
from kernel.deadletters import Reason
from kernel.errors import ConfigError, DataError
from kernel.kafka import Headers, Topics, dlq_headers
from kernel.settings import Settings
from kernel.vin import VIN_REGEX

TELEMETRY_LEAF = "telemetry"


def subscription_filter(root: str, share_group: str = "") -> str:
    """The topic filter the bridge subscribes to, through ``$share/<group>/`` when grouped."""
    topic = f"{root}/+/{TELEMETRY_LEAF}"
    if not share_group:
        return topic
    if any(c in share_group for c in "/+#"):
        raise ConfigError(f"invalid bridge share group {share_group!r}: no '/', '+' or '#'")
    return f"$share/{share_group}/{topic}"


def parse_topic(root: str, topic: str) -> str:
    """The VIN of a ``{root}/{VIN}/telemetry`` topic; :class:`DataError` ``bad_topic`` otherwise."""
    match = _topic_pattern(root).fullmatch(topic)
    if match is None:
        raise DataError(Reason.BAD_TOPIC, f"topic {topic!r} is not {root}/<VIN>/{TELEMETRY_LEAF}")
    return match.group(1)


@lru_cache(maxsize=16)
def _topic_pattern(root: str) -> re.Pattern[str]:
    return re.compile(f"{re.escape(root)}/({VIN_REGEX})/{TELEMETRY_LEAF}")


# Not frozen: one is built per message, and a frozen dataclass's __init__ costs ~5x more.
@dataclass(slots=True)
class Inbound:
    """One MQTT message as received; ``received_s`` is monotonic, ``ingest_ts_ms`` is UTC."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    received_s: float
    ingest_ts_ms: int


# Not frozen: one is built per message, and a frozen dataclass's __init__ costs ~5x more.
@dataclass(slots=True)
class Outbound:
    """The Kafka record for one message; ``reason`` is the dead-letter code, None if forwarded."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers
    timestamp_ms: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RouteConfig:
    mqtt_root: str
    bridge_id: str
    max_payload_bytes: int
    topics: Topics

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteConfig:
        return cls(
            settings.mqtt_topic_root,
            settings.bridge_id,
            settings.bridge_max_payload_bytes,
            Topics.from_settings(settings),
        )


def route(msg: Inbound, cfg: RouteConfig) -> Outbound:
    """Forward a good message to ``telemetry.raw`` unchanged, or dead-letter it with a reason.

    The payload is not parsed here. A dead letter keeps the payload, cut to the size limit so
    that an oversize message cannot become a record Kafka refuses (which would block the bridge);
    a cut value carries the whole payload's size and SHA-256 in ``dlq_original_*`` headers.
    """
    headers: Headers = [
        (h.HEADER_MQTT_TOPIC, msg.topic.encode()),
        (h.HEADER_INGEST_TS_MS, b"%d" % msg.ingest_ts_ms),
        (h.HEADER_BRIDGE_ID, _utf8(cfg.bridge_id)),
    ]
    key: bytes | None = None
    try:
        vin = parse_topic(cfg.mqtt_root, msg.topic)
        key = vin.encode()
        if len(msg.payload) > cfg.max_payload_bytes:
            raise DataError(Reason.OVERSIZE, f"payload exceeds {cfg.max_payload_bytes} bytes")
    except DataError as err:
        size, limit = len(msg.payload), cfg.max_payload_bytes
        detail = err.detail + (f" (value cut to {limit} of {size} bytes)" if size > limit else "")
        dead = dlq_headers(
            stage="bridge",
            reason=err.reason,
            detail=detail,
            source_topic=msg.topic,
            source_partition=-1,
            source_offset=-1,
            original=headers,
        )
        if size > limit:
            dead += [
                (h.HEADER_DLQ_ORIGINAL_BYTES, str(size).encode()),
                (h.HEADER_DLQ_ORIGINAL_SHA256, hashlib.sha256(msg.payload).hexdigest().encode()),
            ]
        value = msg.payload[:limit]
        return Outbound(cfg.topics.dlq, key, value, dead, msg.ingest_ts_ms, err.reason)
    return Outbound(cfg.topics.raw, key, msg.payload, headers, msg.ingest_ts_ms)


@lru_cache(maxsize=16)
def _utf8(text: str) -> bytes:
    return text.encode()


class Delivery(Protocol):
    """The part of a future the ack queue reads (``asyncio.Future`` satisfies it)."""

    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def exception(self) -> BaseException | None: ...


D = TypeVar("D", bound=Delivery)


# Not frozen: one is built per message, and a frozen dataclass's __init__ costs ~5x more.
@dataclass(slots=True)
class Pending(Generic[D]):
    """A received message waiting for Kafka; ``mid`` 0 is a QoS 0 message (nothing to ack)."""

    mid: int
    qos: int
    received_s: float
    reason: str | None
    delivery: D


def failure_of(delivery: Delivery) -> BaseException | None:
    """Why a finished delivery failed, or None if it is unfinished or succeeded."""
    if not delivery.done():
        return None
    if delivery.cancelled():
        return CancelledError("Kafka delivery cancelled")
    return delivery.exception()


class AckQueue(Generic[D]):
    """Messages in arrival order; releases only the longest prefix Kafka has acknowledged.

    MQTT requires PUBACKs in arrival order, and a message must not be acked before its record is
    stored, so a slow or failed delivery holds back every message behind it.
    """

    def __init__(self) -> None:
        self._items: deque[Pending[D]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item: Pending[D]) -> None:
        self._items.append(item)

    @property
    def head(self) -> Pending[D] | None:
        return self._items[0] if self._items else None

    def pop_ready(self) -> list[Pending[D]]:
        """Remove and return the leading messages whose deliveries succeeded, in order."""
        ready: list[Pending[D]] = []
        items = self._items
        while items and items[0].delivery.done() and failure_of(items[0].delivery) is None:
            ready.append(items.popleft())
        return ready

    def head_failure(self) -> BaseException | None:
        """The error of the first message if its delivery failed (nothing can be acked then)."""
        return failure_of(self._items[0].delivery) if self._items else None

    def clear(self) -> list[Pending[D]]:
        """Drop every message (their acks would belong to a dead connection) and return them."""
        dropped = list(self._items)
        self._items.clear()
        return dropped


def ack_publishes(root: str, values: Iterable[bytes | None]) -> tuple[list[tuple[str, bytes]], int]:
    """What the bridge publishes for records of ``telemetry.acks`` (lines of acknowledgements,
    :mod:`kernel.acks`): per vehicle and boot the highest, as ``(topic, payload)`` on
    ``{root}/{VIN}/ack``, in the order first seen; and how many lines were not acknowledgements."""
    latest: dict[tuple[str, str], int] = {}
    bad = 0
    for value in values:
        acks, wrong = decode_ack_lines(value)
        bad += wrong
        for ack in acks:
            key = (ack.vin, ack.boot_id)
            if ack.seq > latest.get(key, -1):
                latest[key] = ack.seq
    return [
        (ack_topic(root, vin), encode_ack(boot_id, seq)) for (vin, boot_id), seq in latest.items()
    ], bad

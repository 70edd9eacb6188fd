"""Dead letters: every reason a stage may give (the one registry), and reading the topic back.

:class:`Reason` lists every code carried in the ``dlq_reason`` header, and :data:`REASONS` says
which stage(s) use it and what it means. Each code is documented with an example in
docs/payload.md (section "Rejection reasons"), checked against this registry by a test. Codes are
part of the contract with operators and dashboards: add new ones, never rename.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiokafka import TopicPartition

from kernel import headers as h
from kernel.kafka import Topics, header, make_consumer, start_client
from kernel.settings import Settings

STAGE_BRIDGE = "bridge"
STAGE_NORMALIZE = "normalize"
STAGE_STORE = "store"
STAGE_SIGNALS = "signals"
STAGE_JOURNEY = "journey"


class Reason(StrEnum):
    """Why a stage dead-lettered a record, in pipeline order (the normalizer's in the order its
    checks run, see :mod:`processors.normalize.reasons`)."""

    BAD_TOPIC = "bad_topic"
    OVERSIZE = "oversize"
    MISSING_HEADERS = "missing_headers"
    INVALID_JSON = "invalid_json"
    NON_FINITE_NUMBER = "non_finite_number"
    DUPLICATE_KEY = "duplicate_key"
    UNSUPPORTED_VERSION = "unsupported_version"
    SCHEMA = "schema"
    BAD_VIN = "bad_vin"
    OUT_OF_RANGE = "out_of_range"
    BAD_DTC = "bad_dtc"
    VIN_MISMATCH = "vin_mismatch"
    VIN_CHECK_DIGIT = "vin_check_digit"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNKNOWN_VIN = "unknown_vin"
    UNDECODABLE = "undecodable"


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    """The stage(s) that dead-letter records with a reason, and its meaning (as documented)."""

    stages: tuple[str, ...]
    meaning: str


def _info(stage: str, meaning: str) -> ReasonInfo:
    return ReasonInfo((stage,), meaning)


REASONS: Mapping[Reason, ReasonInfo] = {
    Reason.BAD_TOPIC: _info(
        STAGE_BRIDGE, "the MQTT topic is not `{root}/{VIN}/telemetry` with a well-formed VIN"
    ),
    Reason.OVERSIZE: _info(
        STAGE_BRIDGE,
        "the payload exceeds `bridge_max_payload_bytes` (default 256 KiB); the dead letter's "
        "value is cut to that size",
    ),
    Reason.MISSING_HEADERS: _info(
        STAGE_NORMALIZE,
        "no `bridge_id`, or no or invalid `ingest_ts_ms` header (the record did not come from "
        "the bridge)",
    ),
    Reason.INVALID_JSON: _info(
        STAGE_NORMALIZE,
        "the value is not UTF-8 JSON, is truncated, is empty, or is not a JSON object",
    ),
    Reason.NON_FINITE_NUMBER: _info(
        STAGE_NORMALIZE,
        "a `NaN`, `Infinity` or `-Infinity` literal, or a number that overflows a double",
    ),
    Reason.DUPLICATE_KEY: _info(
        STAGE_NORMALIZE,
        "an object repeats a key, at any depth (parsers disagree on which copy counts)",
    ),
    Reason.UNSUPPORTED_VERSION: _info(STAGE_NORMALIZE, "`v` is missing or is not the number 1"),
    Reason.SCHEMA: _info(
        STAGE_NORMALIZE,
        "a field is missing, unknown or of the wrong type; `boot_id` or `seq` out of their "
        "rules; both or neither of `sample`/`samples`; `samples` empty or over 1000; more than "
        "64 DTCs",
    ),
    Reason.BAD_VIN: _info(
        STAGE_NORMALIZE, "the payload `vin` is not 17 characters of `[A-HJ-NPR-Z0-9]`"
    ),
    Reason.OUT_OF_RANGE: _info(
        STAGE_NORMALIZE,
        "a signal outside its range in the table above, or `ts_ms` before 2000-01-01",
    ),
    Reason.BAD_DTC: _info(STAGE_NORMALIZE, "a DTC that does not match `^[PCBU][0-3][0-9A-F]{3}$`"),
    Reason.VIN_MISMATCH: _info(
        STAGE_NORMALIZE,
        "the payload `vin` differs from the VIN of the MQTT topic (the record key)",
    ),
    Reason.VIN_CHECK_DIGIT: _info(
        STAGE_NORMALIZE,
        "a North American VIN (first character 1-5) whose ISO 3779 check digit is wrong",
    ),
    Reason.FUTURE_TIMESTAMP: _info(
        STAGE_NORMALIZE,
        "a sample's `ts_ms` is more than `future_tolerance_s` after `ingest_ts_ms`",
    ),
    Reason.UNKNOWN_VIN: _info(
        STAGE_NORMALIZE, "the VIN is not in the `vehicles` registry (see *Registry* above)"
    ),
    Reason.UNDECODABLE: ReasonInfo(
        (STAGE_STORE, STAGE_SIGNALS, STAGE_JOURNEY),
        "a record on `telemetry.frames` is not a valid Avro `TelemetryFrame`, or one on "
        "`vehicle.services` not a valid Avro `ServiceVisit` (signals, journey), or one on "
        "`vehicle.signals` not a valid `VehicleSignal` or on `vehicle.consent` not a valid "
        "`ConsentChange` (journey)",
    ),
}


def reasons_of(stage: str) -> tuple[Reason, ...]:
    """The reasons ``stage`` may dead-letter a record with, in :class:`Reason` order."""
    return tuple(r for r in Reason if stage in REASONS[r].stages)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stage: str
    reason: str
    detail: str
    key: bytes | None
    value: bytes
    mqtt_topic: str
    source_topic: str
    source_partition: int
    source_offset: int
    original_sha256: str
    partition: int = -1
    """Where the dead letter is on the dead-letter topic (with :attr:`offset`)."""
    offset: int = -1
    ts_ms: int | None = None
    """When it was dead-lettered (the ``dlq_ts_ms`` header)."""
    headers: tuple[tuple[str, bytes], ...] = ()
    """The original record's headers (those of the stage that rejected it removed)."""
    cut: bool = False
    """The value was cut to the size limit (``oversize``): it is not the whole payload."""

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class DeadLetterLog:
    """The dead-letter topic read back: its dead letters, and the positions of those replayed
    (``journeygate dlq replay`` marks each one it replays)."""

    letters: list[DeadLetter]
    replayed: frozenset[str]


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value is not None else ""


async def read_dead_letters(settings: Settings, *, idle_ms: int = 500) -> list[DeadLetter]:
    """Every dead letter on the dead-letter topic, from the beginning up to its current end."""
    return (await read_dead_letter_log(settings, idle_ms=idle_ms)).letters


async def read_dead_letter_log(settings: Settings, *, idle_ms: int = 500) -> DeadLetterLog:
    """The dead-letter topic from the beginning up to its current end.

    The end is the high-watermark reported with fetched data (``ListOffsets`` answers are not
    trusted: some Kafka-protocol brokers report less than what is stored).
    """
    topic = Topics.from_settings(settings).dlq
    consumer = make_consumer(settings, group_id=f"journeygate-dlq-reader-{uuid.uuid4().hex[:8]}")
    await start_client(consumer, settings)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return DeadLetterLog([], frozenset())
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        letters: list[DeadLetter] = []
        replayed: set[str] = set()
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=idle_ms)
            for records in batch.values():
                for rec in records:
                    hs = list(rec.headers)
                    marker = header(hs, h.HEADER_DLQ_REPLAY_OF)
                    if marker is not None:
                        replayed.add(_text(marker))
                    else:
                        letters.append(_letter(rec, hs))
            if batch:
                continue
            caught_up = True
            for tp in tps:
                high = consumer.highwater(tp)
                if high is not None and await consumer.position(tp) < high:
                    caught_up = False
            if caught_up:
                return DeadLetterLog(letters, frozenset(replayed))
    finally:
        await consumer.stop()


def _letter(rec: Any, hs: list[tuple[str, bytes]]) -> DeadLetter:
    key: bytes | None = rec.key
    value: bytes | None = rec.value
    ts = _text(header(hs, h.HEADER_DLQ_TS_MS))
    return DeadLetter(
        stage=_text(header(hs, h.HEADER_DLQ_STAGE)),
        reason=_text(header(hs, h.HEADER_DLQ_REASON)),
        detail=_text(header(hs, h.HEADER_DLQ_DETAIL)),
        key=key,
        value=value or b"",
        mqtt_topic=_text(header(hs, h.HEADER_MQTT_TOPIC)),
        source_topic=_text(header(hs, h.HEADER_DLQ_SOURCE_TOPIC)),
        source_partition=int(_text(header(hs, h.HEADER_DLQ_SOURCE_PARTITION)) or -1),
        source_offset=int(_text(header(hs, h.HEADER_DLQ_SOURCE_OFFSET)) or -1),
        original_sha256=_text(header(hs, h.HEADER_DLQ_ORIGINAL_SHA256))
        or hashlib.sha256(value or b"").hexdigest(),
        partition=rec.partition,
        offset=rec.offset,
        ts_ms=int(ts) if ts.isdigit() else None,
        headers=tuple((k, v) for k, v in hs if not k.startswith("dlq_")),
        cut=header(hs, h.HEADER_DLQ_ORIGINAL_BYTES) is not None,
    )


def count_by_reason(letters: list[DeadLetter]) -> Counter[tuple[str, str]]:
    """Dead letters counted by (stage, reason)."""
    return Counter((d.stage, d.reason) for d in letters)

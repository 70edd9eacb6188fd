"""Validation of one raw record: headers, payload v1, VIN rules, timestamps. Pure.

The first failing check decides the reason, in this order: bridge headers, JSON decoding,
version, message shape (``schema``, over the whole message), VIN format, signal values
(``out_of_range``/``bad_dtc``, first in sample order), VIN against the record key, VIN check
digit, future timestamps. The registry (``unknown_vin``) is checked per batch in
:mod:`processors.normalize.logic`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kernel import headers as h
from kernel.deadletters import Reason
from kernel.errors import DataError
from kernel.kafka import SourceRecord, header
from kernel.settings import Settings
from kernel.vin import check_digit_mandatory, check_digit_ok, is_well_formed
from processors.normalize.decode import decode_json
from processors.normalize.vss import ParsedSample, is_integer, is_number, parse_sample
from schemas.codec import SampleValues
from schemas.records import Sample, TelemetryFrame, frame_id

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BOOT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SEQ_MAX = 9_007_199_254_740_991  # 2**53 - 1: exact in every JSON parser
MAX_SAMPLES = 1000
INGEST_TS_MS_DIGITS = 13  # below 10**13 ms (year 2286): every accepted time is a datetime
TOP_KEYS = frozenset({"v", "vin", "boot_id", "seq", "sample", "samples"})


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record read from ``telemetry.raw``: where it came from and what it holds."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Rules:
    """Tunable ingest rules."""

    future_tolerance_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(future_tolerance_ms=settings.future_tolerance_s * 1000)


# Not frozen: one is built per message, and a frozen dataclass's __init__ costs ~5x more.
@dataclass(slots=True)
class Accepted:
    """A valid message, as the values it was checked as (no record objects are built on the hot
    path; :attr:`frame` builds the :class:`TelemetryFrame`). ``check_digit_warning``: a
    non-North-American VIN failed its check digit."""

    vin: str
    boot_id: str
    seq: int
    ingest_ts_ms: int
    bridge_id: str
    samples: tuple[ParsedSample, ...]
    check_digit_warning: bool

    @property
    def frame(self) -> TelemetryFrame:
        return TelemetryFrame(
            vin=self.vin,
            boot_id=self.boot_id,
            seq=self.seq,
            ingest_ts=utc_from_ms(self.ingest_ts_ms),
            bridge_id=self.bridge_id,
            samples=tuple(_sample(i, s) for i, s in enumerate(self.samples)),
        )

    @property
    def frame_id(self) -> str:
        return frame_id(self.vin, self.boot_id, self.seq)

    def sample_values(self) -> list[SampleValues]:
        """The samples as :meth:`FrameCodec.encode_values` takes them."""
        return [(i, s.ts_ms, *s.values) for i, s in enumerate(self.samples)]


@dataclass(frozen=True, slots=True)
class Rejected:
    """An invalid message and why; with its ``boot_id`` and ``seq`` when they were read (the
    message's envelope was valid), so that its dead letter can count as handled."""

    reason: Reason
    detail: str
    boot_id: str | None = None
    seq: int | None = None


Outcome = Accepted | Rejected


def validate(record: SourceRecord, rules: Rules) -> Outcome:
    """Decide whether ``record`` is a valid v1 message; convert it to a frame if so."""
    try:
        ingest_ts_ms, bridge_id = _bridge_headers(record.headers)
        payload = decode_json(record.value)
        vin, boot_id, seq = _envelope(payload)
    except DataError as exc:
        return Rejected(Reason(exc.reason), exc.detail)
    try:
        raw_samples = _samples(payload)
        return _validate(record, rules, ingest_ts_ms, bridge_id, vin, boot_id, seq, raw_samples)
    except DataError as exc:
        return Rejected(Reason(exc.reason), exc.detail, boot_id, seq)


def _validate(
    record: SourceRecord,
    rules: Rules,
    ingest_ts_ms: int,
    bridge_id: str,
    vin: str,
    boot_id: str,
    seq: int,
    raw_samples: list[tuple[str, object]],
) -> Accepted:
    parsed = [parse_sample(obj, where) for where, obj in raw_samples]
    if not is_well_formed(vin):
        raise DataError(Reason.BAD_VIN, f"vin {vin[:40]!r} is not 17 characters of [A-HJ-NPR-Z0-9]")
    for sample in parsed:
        if sample.problem is not None:
            raise sample.problem
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    if key != vin:
        raise DataError(Reason.VIN_MISMATCH, f"payload vin {vin} != record key {key!r}")
    digit_ok = check_digit_ok(vin)
    if not digit_ok and check_digit_mandatory(vin):
        raise DataError(Reason.VIN_CHECK_DIGIT, f"North American vin {vin} fails ISO 3779")
    _not_in_future(parsed, ingest_ts_ms, rules)
    return Accepted(vin, boot_id, seq, ingest_ts_ms, bridge_id, tuple(parsed), not digit_ok)


def _bridge_headers(headers: Sequence[tuple[str, bytes]]) -> tuple[int, str]:
    raw_ts = header(headers, h.HEADER_INGEST_TS_MS)
    if raw_ts is None:
        raise DataError(Reason.MISSING_HEADERS, "no ingest_ts_ms header")
    if not raw_ts.isdigit() or len(raw_ts) > INGEST_TS_MS_DIGITS:
        raise DataError(Reason.MISSING_HEADERS, f"invalid ingest_ts_ms header {raw_ts[:40]!r}")
    raw_bridge = header(headers, h.HEADER_BRIDGE_ID)
    if not raw_bridge:
        raise DataError(Reason.MISSING_HEADERS, "no bridge_id header")
    return int(raw_ts), raw_bridge.decode("utf-8", "replace")


def _envelope(payload: Any) -> tuple[str, str, int]:
    """Check the top-level object (but its samples); returns vin, boot_id and seq."""
    if not isinstance(payload, dict):
        kind = type(payload).__name__
        raise DataError(Reason.INVALID_JSON, f"payload is a JSON {kind}, not an object")
    if "v" not in payload:
        raise DataError(Reason.UNSUPPORTED_VERSION, "no v")
    version = payload["v"]
    if not (is_number(version) and version == 1):
        raise DataError(Reason.UNSUPPORTED_VERSION, f"v={str(version)[:40]}, expected 1")
    extra = payload.keys() - TOP_KEYS
    if extra:
        raise DataError(Reason.SCHEMA, f"unknown fields {sorted(k[:40] for k in extra)}")
    for name in ("vin", "boot_id", "seq"):
        if name not in payload:
            raise DataError(Reason.SCHEMA, f"missing {name}")
    vin, boot_id, seq = payload["vin"], payload["boot_id"], payload["seq"]
    if not isinstance(vin, str):
        raise DataError(Reason.SCHEMA, "vin is not a string")
    if not isinstance(boot_id, str) or BOOT_ID_RE.fullmatch(boot_id) is None:
        raise DataError(Reason.SCHEMA, "boot_id is not 1-64 characters of [A-Za-z0-9._:-]")
    if not is_integer(seq) or not 0 <= seq <= SEQ_MAX:
        raise DataError(Reason.SCHEMA, "seq is not an integer in [0, 2**53-1]")
    return vin, boot_id, int(seq)


def _samples(payload: dict[str, Any]) -> list[tuple[str, object]]:
    if ("sample" in payload) == ("samples" in payload):
        raise DataError(Reason.SCHEMA, "exactly one of sample and samples is required")
    if "sample" in payload:
        return [("sample", payload["sample"])]
    items = payload["samples"]
    if not isinstance(items, list):
        raise DataError(Reason.SCHEMA, "samples is not an array")
    if not 1 <= len(items) <= MAX_SAMPLES:
        raise DataError(Reason.SCHEMA, f"samples holds {len(items)} items (1-{MAX_SAMPLES})")
    return [(f"samples[{i}]", obj) for i, obj in enumerate(items)]


def _not_in_future(parsed: list[ParsedSample], ingest_ts_ms: int, rules: Rules) -> None:
    latest_ms = max(s.ts_ms for s in parsed)
    ahead_ms = latest_ms - ingest_ts_ms
    if ahead_ms > rules.future_tolerance_ms:
        raise DataError(
            Reason.FUTURE_TIMESTAMP,
            f"ts_ms={latest_ms} is {ahead_ms} ms after ingest (tolerance "
            f"{rules.future_tolerance_ms} ms)",
        )


def _sample(idx: int, parsed: ParsedSample) -> Sample:
    return Sample(idx, utc_from_ms(parsed.ts_ms), *parsed.values)


def utc_from_ms(ms: int) -> datetime:
    """The aware UTC datetime ``ms`` milliseconds after the epoch (exact)."""
    seconds, millis = divmod(ms, 1000)
    return EPOCH + timedelta(0, seconds, millis * 1000)

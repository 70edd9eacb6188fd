"""Fuzzing every decoder that reads bytes from outside: the device payload's decoder and
validator, the Avro decoders of every topic, and the store's Avro-to-COPY encoder.

Each target gets valid inputs mutated the ways a broken producer or a bit error mutates them
(cut, bytes flipped, inserted, removed, spliced from another input) and plain random bytes. A
target may accept an input or reject it with its documented error (a rejected payload, a
:class:`~schemas.codec.CodecError`); anything else it raises is a crash. Each crash found is
kept as an ``@example`` below. ``JOURNEYGATE_FUZZ_EXAMPLES`` sets the examples per target
(default 300, bounded for CI; e.g. 200000 for a long run).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.normalize.validate import Accepted, RawRecord, Rejected, Rules, validate
from processors.store.copybin import frame_copy
from schemas.codec import CodecError, FrameCodec
from schemas.consent import ConsentCodec, consent_change
from schemas.records import Sample, TelemetryFrame
from schemas.sample import SIGNAL_FIELDS
from schemas.services import ServiceItem, ServiceVisitCodec, ServiceVisitRecord
from schemas.signals import SignalCodec

EXAMPLES = int(os.environ.get("JOURNEYGATE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
VIN = "1M8GDM9AXKP042788"
INGEST_TS_MS = int(T0.timestamp() * 1000)


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A seed after 1 to 4 mutations, or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("cut", "flip", "insert", "delete", "splice", "byte")))
        at = draw(st.integers(0, len(data)))
        if op == "cut":
            del data[at:]
        elif op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and at < len(data):
            data[at] = draw(st.sampled_from((0x00, 0x01, 0x7F, 0x80, 0xFF, 0x22, 0x5C, 0x3A)))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 12))]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            data[at:] = other[draw(st.integers(0, len(other))) :]
    return bytes(data)


# --- the device payload ----------------------------------------------------------------------


def _payload(**sample: object) -> bytes:
    body = {"v": 1, "vin": VIN, "boot_id": "b-1", "seq": 7, "sample": {"ts_ms": 1, **sample}}
    return json.dumps(body).encode()


PAYLOADS = (
    _payload(**{"Vehicle.Speed": 54.2, "Vehicle.TraveledDistance": 48213500}),
    _payload(**{"Vehicle.Diagnostics.DTCList": ["P0420", "U0100"]}),
    json.dumps(
        {"v": 1, "vin": VIN, "boot_id": "b", "seq": 1, "samples": [{"ts_ms": 1}, {"ts_ms": 2}]}
    ).encode(),
)
HEADERS = (("ingest_ts_ms", str(INGEST_TS_MS).encode()), ("bridge_id", b"bridge-a"))


@FUZZ
@given(mutated(PAYLOADS))
def test_the_normalizer_accepts_or_rejects_every_payload(data: bytes) -> None:
    record = RawRecord("telemetry.raw", 0, 0, VIN.encode(), data, HEADERS)
    outcome = validate(record, Rules(future_tolerance_ms=300_000))
    assert isinstance(outcome, Accepted | Rejected)
    if isinstance(outcome, Accepted):
        outcome.frame  # noqa: B018 (the conversion must not fail either)


# --- Avro topics -----------------------------------------------------------------------------

FRAMES = FrameCodec()
FRAME_SEEDS = (
    FRAMES.encode(TelemetryFrame(VIN, "b-1", 7, T0, "bridge-a", (Sample(0, T0, 1000, 54.2),))),
    FRAMES.encode(
        TelemetryFrame(
            VIN, "b", 1, T0, "b", (Sample(0, T0, dtcs=("P0420",)), Sample(1, T0, soc_pct=80.0))
        )
    ),
)
VISITS = ServiceVisitCodec()
VISIT_SEEDS = (
    VISITS.encode(
        ServiceVisitRecord(
            "v-1",
            VIN,
            T0,
            42_000_000,
            "DLR-001",
            "EUR",
            (
                ServiceItem("scheduled", None, "Service", 310.0),
                ServiceItem("repair", "P0420", "Cat", 900.0),
            ),
        )
    ),
)
CONSENT = ConsentCodec()
CONSENT_SEEDS = (CONSENT.encode(consent_change(VIN, "marketing_offers", True, T0, "registry")),)

DECODERS: dict[str, tuple[Callable[[bytes], object], tuple[bytes, ...]]] = {
    "frame": (FRAMES.decode, FRAME_SEEDS),
    "frame to COPY rows": (frame_copy, FRAME_SEEDS),
    "service visit": (VISITS.decode, VISIT_SEEDS),
    "consent change": (CONSENT.decode, CONSENT_SEEDS),
    "signal": (SignalCodec().decode_signal, ()),
}


@pytest.mark.parametrize("name", [n for n, (_, seeds) in DECODERS.items() if seeds])
def test_an_avro_decoder_decodes_or_raises_a_codec_error(name: str) -> None:
    decode, seeds = DECODERS[name]

    @FUZZ
    @given(mutated(seeds))
    def run(data: bytes) -> None:
        with contextlib.suppress(CodecError):
            decode(data)

    run()


@FUZZ
@given(st.binary(max_size=400))
def test_the_signal_decoder_decodes_or_raises_a_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        DECODERS["signal"][0](data)


# --- crashes found, kept ---------------------------------------------------------------------

FOUND = [
    pytest.param(
        FRAMES.decode,
        FRAMES.encode_values(VIN, "b", 1, 2**62, "x", [(0, 0, *[None] * len(SIGNAL_FIELDS))]),
        id="frame with an ingest time past year 9999: OverflowError from the Avro reader",
    ),
]


@pytest.mark.parametrize(("decode", "data"), FOUND)
def test_crashes_found_are_codec_errors(decode: Callable[[bytes], object], data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)

"""Receipts: what the normalizer tells the store writer about messages that produced no frame."""

from __future__ import annotations

import normalize_payloads as p

from kernel.acks import RECEIPT_DEAD_LETTER, RECEIPT_REPEAT, decode_receipt
from processors.normalize.dedupe import DedupeWindow
from processors.normalize.logic import plan_batch, validate_batch
from processors.normalize.validate import Rules
from schemas.codec import FrameCodec

RULES = Rules(future_tolerance_ms=p.TOLERANCE_MS)
KNOWN = p.with_check_digit("WVWZZZ1JZXW000001")
OTHER = p.with_check_digit("WVWZZZ1JZXW000002")
NEW = p.with_check_digit("1HGCM82633A004352")


def _receipts(*records: object, known: set[str] | None = None) -> list[tuple[str, str, str, int]]:
    batch = list(records)
    outcomes = validate_batch(batch, RULES)  # type: ignore[arg-type]
    plan = plan_batch(batch, outcomes, known or {KNOWN}, DedupeWindow(), FrameCodec())  # type: ignore[arg-type]
    out = []
    for rec in plan.receipts:
        r = decode_receipt(rec.key, rec.value)
        out.append((r.vin, r.kind, r.boot_id, r.seq))
    return out


def test_a_dead_letter_whose_seq_was_read_is_covered_for_the_vehicle_of_its_topic() -> None:
    ahead = p.simple_payload(KNOWN, seq=7, boot_id="b:2", ts_ms=p.INGEST_TS_MS + p.TOLERANCE_MS + 1)
    bad_signal = p.simple_payload(KNOWN, seq=8, signals={"Vehicle.Speed": 900})
    crossed = p.simple_payload(OTHER, seq=9)  # published on KNOWN's topic
    samples_not_a_list = {"v": 1, "vin": KNOWN, "boot_id": "b", "seq": 10, "samples": 3}
    assert _receipts(
        p.record(ahead),
        p.record(bad_signal),
        p.record(crossed, key=KNOWN),
        p.record(samples_not_a_list),
        p.record(p.simple_payload(NEW, seq=3)),
    ) == [
        (KNOWN, RECEIPT_DEAD_LETTER, "b:2", 7),
        (KNOWN, RECEIPT_DEAD_LETTER, "boot-1", 8),
        (KNOWN, RECEIPT_DEAD_LETTER, "boot-1", 9),
        (KNOWN, RECEIPT_DEAD_LETTER, "b", 10),
        (NEW, RECEIPT_DEAD_LETTER, "boot-1", 3),  # unknown_vin: durable in the DLQ for replay
    ]


def test_no_receipt_without_a_seq_or_a_vehicle() -> None:
    good = p.simple_payload(KNOWN, seq=1)
    assert (
        _receipts(
            p.record(None, key=KNOWN, value=b"{not json"),
            p.record({"v": 1, "vin": KNOWN, "boot_id": "b", "seq": "1", "sample": {}}),
            p.record({"v": 2}, key=KNOWN),
            p.record(good, key="not-a-vin"),  # vin_mismatch, but no vehicle to credit
            p.record(good),  # a frame: the store writer covers it
        )
        == []
    )


def test_a_repeat_the_window_drops_gets_a_repeat_receipt() -> None:
    first = p.simple_payload(KNOWN, seq=4)
    assert _receipts(p.record(first), p.record(first, offset=1)) == [
        (KNOWN, RECEIPT_REPEAT, "boot-1", 4)
    ]

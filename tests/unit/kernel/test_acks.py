"""The acknowledgement contracts: receipts, downlink payloads, topics."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.acks import (
    RECEIPT_KINDS,
    SEQ_MAX,
    AckFormatError,
    ack_topic,
    ack_topic_vin,
    decode_ack,
    decode_ack_lines,
    decode_receipt,
    encode_ack,
    encode_ack_lines,
    encode_receipt,
)

VIN = "WVWZZZ1JZXW000001"
boot_ids = st.text(alphabet="abcXYZ019._:-", min_size=1, max_size=64)
seqs = st.integers(min_value=0, max_value=SEQ_MAX)


@given(st.sampled_from(RECEIPT_KINDS), seqs, boot_ids)
def test_a_receipt_reads_back_as_written(kind: str, seq: int, boot_id: str) -> None:
    receipt = decode_receipt(VIN.encode(), encode_receipt(kind, seq, boot_id))
    assert (receipt.vin, receipt.kind, receipt.boot_id, receipt.seq) == (VIN, kind, boot_id, seq)
    assert receipt.covers == (kind == "dead_letter")


@given(seqs, boot_ids)
def test_an_ack_reads_back_as_written(seq: int, boot_id: str) -> None:
    payload = encode_ack(boot_id, seq)
    assert orjson.loads(payload) == {"v": 1, "boot_id": boot_id, "seq": seq}
    ack = decode_ack(VIN, payload)
    assert (ack.vin, ack.boot_id, ack.seq) == (VIN, boot_id, seq)


@given(st.lists(st.tuples(st.sampled_from([VIN, "1HGCM82633A004352"]), boot_ids, seqs), min_size=1))
def test_lines_of_acks_read_back_as_written(acks: list[tuple[str, str, int]]) -> None:
    decoded, bad = decode_ack_lines(encode_ack_lines(acks))
    assert [(a.vin, a.boot_id, a.seq) for a in decoded] == acks and bad == 0


def test_a_bad_line_of_acks_is_counted_and_the_others_kept() -> None:
    value = encode_ack_lines([(VIN, "b", 1)]) + b"\nnonsense\n" + b"1M8GDM9AXKP04278 1 b"
    decoded, bad = decode_ack_lines(value)
    assert [(a.vin, a.seq) for a in decoded] == [(VIN, 1)] and bad == 2
    assert decode_ack_lines(None) == ([], 1)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (None, b"repeat 1 b"),
        (VIN.encode(), None),
        (b"short", b"repeat 1 b"),
        (VIN.encode(), b"stored 1 b"),
        (VIN.encode(), b"repeat -1 b"),
        (VIN.encode(), b"repeat 1"),
        (VIN.encode(), b"repeat 1 b c"),
        (VIN.encode(), b"repeat 1 b/c"),
        (VIN.encode(), b"repeat 9007199254740992 b"),
        (VIN.encode(), b"repeat \xff b"),
    ],
)
def test_a_bad_receipt_is_refused(key: bytes | None, value: bytes | None) -> None:
    with pytest.raises(AckFormatError):
        decode_receipt(key, value)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"[1]",
        b'{"v": 2, "boot_id": "b", "seq": 1}',
        b'{"v": 1, "boot_id": 3, "seq": 1}',
        b'{"v": 1, "boot_id": "b", "seq": true}',
        b'{"v": 1, "boot_id": "b", "seq": 1.5}',
        b'{"v": 1, "boot_id": "b", "seq": -2}',
        b'{"v": 1, "boot_id": "", "seq": 1}',
    ],
)
def test_a_bad_ack_is_refused(payload: bytes) -> None:
    with pytest.raises(AckFormatError):
        decode_ack(VIN, payload)


def test_the_ack_topic_names_its_vehicle() -> None:
    assert ack_topic("fleet/vehicles", VIN) == f"fleet/vehicles/{VIN}/ack"
    assert ack_topic_vin("fleet/vehicles", f"fleet/vehicles/{VIN}/ack") == VIN
    assert ack_topic_vin("fleet/vehicles", f"fleet/vehicles/{VIN}/telemetry") is None
    assert ack_topic_vin("fleet/vehicles", f"other/{VIN}/ack") is None
    assert ack_topic_vin("a.b", f"axb/{VIN}/ack") is None  # the root is not a pattern

"""The store writer's acknowledgements: receipts in, records of telemetry.acks out."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from kernel.acks import decode_ack_lines, encode_ack_lines, encode_receipt
from processors.store.acks import NO_ACKS, BatchAcks, PendingAcks, decode_receipts

VIN = "WVWZZZ1JZXW000001"
OTHER = "1HGCM82633A004352"


def test_pending_acks_go_out_once_per_interval() -> None:
    pending = PendingAcks(interval_s=1.0)
    assert not pending.due(0.0)
    pending.add(b"")  # a batch with nothing to acknowledge
    assert not pending.due(0.0)
    pending.add(encode_ack_lines([(VIN, "b", 3)]))
    assert pending.due(0.0)  # the first send does not wait
    assert pending.take(0.0) == [encode_ack_lines([(VIN, "b", 3)])]
    pending.add(encode_ack_lines([(VIN, "b", 5)]))
    pending.add(encode_ack_lines([(VIN, "b", 4), (OTHER, "x", 0)]))
    assert not pending.due(0.5)
    assert pending.due(1.0)
    sent = pending.take(1.0)
    acks = [(a.vin, a.boot_id, a.seq) for v in sent for a in decode_ack_lines(v)[0]]
    assert acks == [(VIN, "b", 5), (VIN, "b", 4), (OTHER, "x", 0)]
    assert len(pending) == 0


def test_a_long_run_of_lines_is_cut_into_records_at_line_ends() -> None:
    lines = [(VIN, f"boot-{n}", n) for n in range(30_000)]
    pending = PendingAcks(interval_s=0.0)
    pending.add(encode_ack_lines(lines))
    records = pending.take(0.0)
    assert len(records) > 1 and all(len(r) <= 512 * 1024 for r in records)
    decoded = [a for r in records for a in decode_ack_lines(r)[0]]
    assert [(a.vin, a.boot_id, a.seq) for a in decoded] == lines
    assert all(decode_ack_lines(r)[1] == 0 for r in records)


def test_lines_of_asked_boots_join_a_batch_s() -> None:
    acks = BatchAcks(encode_ack_lines([(VIN, "b", 2)]), gaps_opened=1)
    joined = acks.with_lines(f"{OTHER} 0 x")
    assert decode_ack_lines(joined.lines)[0][1].vin == OTHER and joined.gaps_opened == 1
    assert NO_ACKS.with_lines(f"{OTHER} 0 x").lines == encode_ack_lines([(OTHER, "x", 0)])
    assert NO_ACKS.with_lines("") is NO_ACKS


def test_receipts_are_split_by_meaning_and_bad_ones_dead_lettered() -> None:
    def rec(offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("r", 0, offset, 0, 0, VIN.encode(), value, None, 0, 0, [])

    receipts = decode_receipts(
        [
            rec(0, encode_receipt("dead_letter", 3, "b")),
            rec(1, encode_receipt("repeat", 2, "b")),
            rec(2, b"nonsense"),
        ]
    )
    assert [(r.boot_id, r.seq) for r in receipts.covering] == [("b", 3)]
    assert [(r.boot_id, r.seq) for r in receipts.repeats] == [("b", 2)]
    assert [(r.record.offset, r.reason) for r in receipts.rejected] == [(2, "undecodable")]

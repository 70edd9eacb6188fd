"""A device's outbox: what it keeps until acknowledged, what it sends again, what it drops."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simulator.publishing.outbox import Outboxes

VINS = ("V1", "V2")
BOOTS = ("a", "b")


def keep(box: Outboxes, vin: str, boot: str, seq: int, now_s: float = 0.0) -> None:
    box.keep(vin, boot, seq, f"t/{vin}/telemetry", f"{vin}:{boot}:{seq}".encode(), now_s)


def kept(box: Outboxes) -> set[tuple[str, str, int]]:
    return {(k.vin, k.boot_id, k.seq) for k in box.after_reconnect(None, 0.0)}


operations = st.lists(
    st.tuples(
        st.sampled_from(["keep", "ack"]),
        st.sampled_from(VINS),
        st.sampled_from(BOOTS),
        st.integers(min_value=0, max_value=12),
    ),
    max_size=80,
)


@given(operations, st.integers(min_value=1, max_value=6))
def test_the_outbox_keeps_exactly_what_no_acknowledgement_covers(
    ops: list[tuple[str, str, str, int]], capacity: int
) -> None:
    box = Outboxes(capacity, resend_after_s=1.0)
    order: dict[str, list[tuple[str, int]]] = {v: [] for v in VINS}  # the reference model
    acked: dict[tuple[str, str], int] = {}
    dropped = confirmed = 0
    for op, vin, boot, seq in ops:
        if op == "keep":
            keep(box, vin, boot, seq)
            if seq > acked.get((vin, boot), -1) and (boot, seq) not in order[vin]:
                if len(order[vin]) == capacity:
                    order[vin].pop(0)
                    dropped += 1
                order[vin].append((boot, seq))
        else:
            box.acknowledge(vin, boot, seq, 0.0)
            if seq > acked.get((vin, boot), -1):
                acked[(vin, boot)] = seq
                covered = [(b, s) for b, s in order[vin] if b == boot and s <= seq]
                confirmed += len(covered)
                order[vin] = [k for k in order[vin] if k not in covered]
    assert kept(box) == {(v, b, s) for v, keys in order.items() for b, s in keys}
    assert (box.kept, box.dropped, box.confirmed) == (len(kept(box)), dropped, confirmed)


def test_an_acknowledgement_covers_its_boot_up_to_its_seq_only() -> None:
    box = Outboxes(100, resend_after_s=1.0)
    for seq in range(5):
        keep(box, "V1", "a", seq)
        keep(box, "V1", "b", seq)
        keep(box, "V2", "a", seq)
    assert box.acknowledge("V1", "a", 2, 0.0) == 3
    assert box.acknowledge("V1", "a", 1, 0.0) == 0  # an older one changes nothing
    assert kept(box) == (
        {("V1", "a", s) for s in (3, 4)}
        | {("V1", "b", s) for s in range(5)}
        | {("V2", "a", s) for s in range(5)}
    )
    keep(box, "V1", "a", 2)  # sent again after it was confirmed: not kept
    assert ("V1", "a", 2) not in kept(box)


def test_unconfirmed_messages_are_due_again_after_a_wait_that_doubles() -> None:
    box = Outboxes(100, resend_after_s=10.0)
    keep(box, "V1", "a", 0, now_s=0.0)
    keep(box, "V1", "a", 1, now_s=5.0)
    assert box.due(9.9) == []
    assert [k.seq for k in box.due(10.0)] == [0]
    assert [k.seq for k in box.due(15.0)] == [1]
    assert box.due(29.9) == []  # the second attempt waits 20 s
    assert [k.seq for k in box.due(30.0)] == [0]
    box.acknowledge("V1", "a", 1, 31.0)
    assert box.due(1000.0) == []


def test_a_device_whose_confirmations_progress_does_not_send_again() -> None:
    """Behind but confirming: a lag, not a loss. Once confirmations stop (a gap), it does."""
    box = Outboxes(100, resend_after_s=10.0)
    for seq in range(4):
        keep(box, "V1", "a", seq, now_s=float(seq))
    keep(box, "V2", "a", 0, now_s=0.0)
    box.acknowledge("V1", "a", 0, now_s=8.0)
    assert [(k.vin, k.seq) for k in box.due(12.0)] == [("V2", 0)]
    box.acknowledge("V1", "a", 1, now_s=15.0)
    assert box.due(24.9) == []
    assert [(k.vin, k.seq) for k in box.due(25.0)] == [("V1", 2), ("V1", 3)]


def test_after_a_reconnect_a_device_sends_everything_it_keeps() -> None:
    box = Outboxes(100, resend_after_s=10.0)
    for seq in range(3):
        keep(box, "V1", "a", seq)
    keep(box, "V2", "a", 0)
    again = box.after_reconnect({"V1"}, now_s=4.0)
    assert [(k.vin, k.seq) for k in again] == [("V1", 0), ("V1", 1), ("V1", 2)]
    assert [k.seq for k in box.due(10.0)] == [0]  # only V2's: V1's were just sent

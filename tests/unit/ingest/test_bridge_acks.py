"""The in-order ack queue: acks are an in-order prefix of arrivals, of stored records only."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ingest.logic import AckQueue, Pending, failure_of


class Outcome:
    """A delivery whose result the test decides: pending, stored, failed or cancelled."""

    def __init__(self) -> None:
        self.state = "pending"

    def done(self) -> bool:
        return self.state != "pending"

    def cancelled(self) -> bool:
        return self.state == "cancelled"

    def exception(self) -> BaseException | None:
        return ConnectionError("broker down") if self.state == "failed" else None


class AckQueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.queue: AckQueue[Outcome] = AckQueue()
        self.arrivals: list[tuple[int, Outcome]] = []
        self.acked: list[int] = []

    @rule(qos=st.sampled_from([0, 1]))
    def receive(self, qos: int) -> None:
        seq = len(self.arrivals)
        outcome = Outcome()
        self.arrivals.append((seq, outcome))
        self.queue.push(Pending(seq + 1 if qos else 0, qos, 0.0, None, outcome))

    @precondition(lambda self: any(o.state == "pending" for _, o in self.arrivals))
    @rule(
        data=st.data(),
        result=st.sampled_from(["stored", "stored", "stored", "failed", "cancelled"]),
    )
    def kafka_answers(self, data: st.DataObject, result: str) -> None:
        pending = [o for _, o in self.arrivals if o.state == "pending"]
        data.draw(st.sampled_from(pending)).state = result

    @rule()
    def release(self) -> None:
        before = len(self.queue)
        ready = self.queue.pop_ready()
        assert len(self.queue) == before - len(ready)
        for item in ready:
            assert item.delivery.done() and failure_of(item.delivery) is None
        position = len(self.acked)
        expected = [o for _, o in self.arrivals[position : position + len(ready)]]
        assert [item.delivery for item in ready] == expected
        self.acked.extend(seq for seq, _ in self.arrivals[position : position + len(ready)])
        head = self.queue.head
        # Maximal: whatever stays at the head is unfinished or failed.
        assert head is None or not head.delivery.done() or failure_of(head.delivery) is not None
        assert (self.queue.head_failure() is not None) == (
            head is not None and head.delivery.done() and failure_of(head.delivery) is not None
        )

    @invariant()
    def acks_are_an_in_order_prefix_of_stored_arrivals(self) -> None:
        assert self.acked == [seq for seq, _ in self.arrivals[: len(self.acked)]]
        assert all(o.state == "stored" for _, o in self.arrivals[: len(self.acked)])
        assert len(self.queue) == len(self.arrivals) - len(self.acked)


TestAckQueue = AckQueueMachine.TestCase


def test_nothing_behind_a_failed_delivery_is_released() -> None:
    queue: AckQueue[Outcome] = AckQueue()
    outcomes = [Outcome() for _ in range(4)]
    for mid, outcome in enumerate(outcomes, start=1):
        queue.push(Pending(mid, 1, 0.0, None, outcome))
    outcomes[0].state = "stored"
    outcomes[1].state = "failed"
    outcomes[2].state = outcomes[3].state = "stored"
    assert [p.mid for p in queue.pop_ready()] == [1]
    assert isinstance(queue.head_failure(), ConnectionError)
    assert queue.pop_ready() == []
    assert [p.mid for p in queue.clear()] == [2, 3, 4] and len(queue) == 0

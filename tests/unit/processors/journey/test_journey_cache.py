"""The journey processor's state cache: a state taken for a batch is gone until the batch's
commit puts it back; the least recently committed leave beyond the capacity."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.journey.cache import StateCache
from processors.journey.state import VehicleJourney


def states(*vins: str) -> dict[str, VehicleJourney]:
    return {v: VehicleJourney(v) for v in vins}


def test_a_taken_state_is_gone_until_put_back() -> None:
    cache = StateCache(10)
    committed = states("A", "B")
    cache.put(committed)
    taken = cache.take(["A", "C"])
    assert taken == {"A": committed["A"]} and taken["A"] is committed["A"]
    assert cache.take(["A"]) == {}  # a failed batch reads it from the store
    assert len(cache) == 1


def test_the_least_recently_committed_leave_first() -> None:
    cache = StateCache(2)
    cache.put(states("A", "B"))
    cache.put(states("A"))  # A committed again: B is now the oldest
    cache.put(states("C"))
    assert set(cache.take(["A", "B", "C"])) == {"A", "C"}


def test_capacity_zero_keeps_nothing_and_clear_empties() -> None:
    none = StateCache(0)
    none.put(states("A"))
    assert len(none) == 0
    cache = StateCache(5)
    cache.put(states("A", "B"))
    cache.clear()
    assert cache.take(["A", "B"]) == {}


@given(st.lists(st.lists(st.sampled_from("ABCDEFG"), max_size=4), max_size=30), st.integers(0, 5))
def test_never_above_capacity_and_only_the_newest_commit_of_a_vehicle(
    batches: list[list[str]], capacity: int
) -> None:
    cache = StateCache(capacity)
    newest: dict[str, VehicleJourney] = {}
    for vins in batches:
        cache.take(vins)
        committed = states(*vins)
        cache.put(committed)
        newest.update(committed)
        assert len(cache) <= capacity
    for vin, state in cache.take("ABCDEFG").items():
        assert state is newest[vin]

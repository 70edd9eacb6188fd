"""The journey processor's caches. States: a state taken for a batch is gone until the batch's
commit puts it back; the least recently committed leave beyond the capacity. Registry rows:
kept, the unregistered VINs included, until the registry's version moves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kernel.lru import RegistryCache
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


def test_registry_rows_are_kept_until_the_registry_version_moves() -> None:
    cache: RegistryCache[str] = RegistryCache(10)
    cache.at_version(3)
    assert cache.get(["A", "B"]) == ({}, ["A", "B"])
    cache.put(["A", "B"], {"A": "row of A"})  # B is not in the registry
    cache.at_version(3)
    assert cache.get(["A", "B", "C"]) == ({"A": "row of A"}, ["C"])
    cache.at_version(4)  # an import, a consent change, a new vehicle: everything is read again
    assert cache.get(["A", "B"]) == ({}, ["A", "B"])
    assert len(cache) == 0


@given(st.lists(st.lists(st.sampled_from("ABCDEFG"), max_size=4), max_size=30), st.integers(0, 5))
def test_registry_rows_never_above_capacity_and_the_least_recently_asked_leave_first(
    batches: list[list[str]], capacity: int
) -> None:
    cache: RegistryCache[str] = RegistryCache(capacity)
    cache.at_version(1)
    order: list[str] = []  # the least recently asked first
    for vins in batches:
        _, missing = cache.get(vins)
        assert set(missing) == set(vins) - set(order)
        cache.put(missing, {v: f"row of {v}" for v in missing})
        for v in [v for v in vins if v in order] + missing:  # the rows kept, then those read
            if v in order:
                order.remove(v)
            order.append(v)
        order = order[-capacity:] if capacity else []
        assert len(cache) <= capacity
    kept = set(order)
    found, missing = cache.get("ABCDEFG")
    assert set(found) == kept
    assert all(row == f"row of {v}" for v, row in found.items())

"""The signals processor's cache of memories: what it reads from the store, what it keeps
decoded, and in which order it lets them go."""

from __future__ import annotations

from processors.signals.cache import MemoryCache, encode
from processors.signals.memory import VehicleMemory


def memory(n: int) -> VehicleMemory:
    return VehicleMemory(as_of_ms=n, frames_ms=n)


def test_only_vehicles_never_seen_are_read_from_the_store() -> None:
    cache = MemoryCache(10)
    assert cache.unknown(["a", "b"]) == ["a", "b"]
    cache.add_stored(["a", "b"], {"a": memory(1).to_bytes()})  # b has no memory yet
    assert cache.unknown(["a", "b", "c"]) == ["c"] and len(cache) == 2
    got = cache.memories(["a", "b"])
    assert got == {"a": memory(1), "b": None}


def test_a_committed_batch_is_kept_decoded_and_as_bytes() -> None:
    cache = MemoryCache(10)
    cache.add_stored(["a"], {})
    batch = {"a": memory(2)}
    states = encode(batch)
    assert states == {"a": memory(2).to_bytes()}
    cache.keep(batch, states)
    assert cache.memories(["a"])["a"] is batch["a"]  # the same object, not decoded again
    assert cache.decoded_count == 1


def test_the_least_recently_used_leave_the_decoded_ones_first_and_stay_as_bytes() -> None:
    cache = MemoryCache(2)
    for vin, n in (("a", 1), ("b", 2)):
        cache.keep({vin: memory(n)}, encode({vin: memory(n)}))
    cache.memories(["a"])  # a is now the most recent
    cache.keep({"c": memory(3)}, encode({"c": memory(3)}))
    assert cache.decoded_count == 2 and len(cache) == 3
    kept = cache.memories(["a", "b", "c"])
    assert kept == {"a": memory(1), "b": memory(2), "c": memory(3)}  # b decoded from its bytes


def test_no_decoded_memory_is_kept_with_a_limit_of_zero_and_clear_forgets_all() -> None:
    cache = MemoryCache(0)
    cache.keep({"a": memory(1)}, encode({"a": memory(1)}))
    assert cache.decoded_count == 0 and cache.memories(["a"]) == {"a": memory(1)}
    cache.clear()
    assert len(cache) == 0 and cache.unknown(["a"]) == ["a"]

"""The journey processor's cache of committed vehicle states (pure, no I/O).

A vehicle's inputs all come to the member that owns its partition, and only that member writes
its state, so the state it committed last is the one stored: reading it back from
``journey_state`` at the vehicle's next batch (and decoding its JSON) is work done twice. The
cache keeps the states of the batches committed since the last rebalance, up to a number of
vehicles (the least recently used go first).

A state is *taken* out of the cache for a batch (:meth:`StateCache.take`) and *put* back only
once the batch's transaction committed (:meth:`StateCache.put`): the fold mutates the states, so
a batch that fails, or is folded again, reads what was stored. The runner empties the cache at
every rebalance (another member may have folded the vehicles in between).

Registry rows (dealer, consent in force, owner) are written by imports, by other members and by
anyone with SQL, not by this member alone: they are kept by :class:`kernel.lru.RegistryCache`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kernel.lru import trim_oldest
from processors.journey.state import VehicleJourney


class StateCache:
    """At most ``capacity`` committed states by VIN (0: none kept)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._states: dict[str, VehicleJourney] = {}  # insertion order: least recent first

    def __len__(self) -> int:
        return len(self._states)

    def take(self, vins: Iterable[str]) -> dict[str, VehicleJourney]:
        """The cached states of ``vins``, removed from the cache."""
        found: dict[str, VehicleJourney] = {}
        for vin in vins:
            state = self._states.pop(vin, None)
            if state is not None:
                found[vin] = state
        return found

    def put(self, states: Mapping[str, VehicleJourney]) -> None:
        """Keep ``states`` (just committed) as the most recent; the least recent beyond the
        capacity leave."""
        if self.capacity <= 0:
            return
        for vin, state in states.items():
            self._states.pop(vin, None)
            self._states[vin] = state
        trim_oldest(self._states, self.capacity)

    def clear(self) -> None:
        self._states.clear()

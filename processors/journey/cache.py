"""The journey processor's caches: committed vehicle states and registry rows (pure, no I/O).

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
anyone with SQL, not by this member alone: :class:`RegistryCache` keeps them only as long as the
store's registry version (``registry_version``, moved by every statement that changes a row of
``vehicles`` or ``consent_changes``) has not moved since they were read. The runner reads the
version before the rows, so a change committed between the two reads is read again at the next
batch, never missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any, Generic, TypeVar

from processors.journey.state import VehicleJourney

T = TypeVar("T")


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
        _trim(self._states, self.capacity)

    def clear(self) -> None:
        self._states.clear()


class RegistryCache(Generic[T]):
    """At most ``capacity`` registry rows by VIN, ``None`` for a VIN the registry does not hold,
    valid for one registry version (0 capacity: none kept)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.version: int | None = None
        self._rows: dict[str, T | None] = {}  # insertion order: least recent first

    def __len__(self) -> int:
        return len(self._rows)

    def at_version(self, version: int) -> None:
        """The store's registry version now: every row kept is forgotten if it moved."""
        if version != self.version:
            self._rows.clear()
            self.version = version

    def get(self, vins: Iterable[str]) -> tuple[dict[str, T], list[str]]:
        """The kept rows of ``vins`` (the registered ones) and the VINs not kept."""
        found: dict[str, T] = {}
        missing: list[str] = []
        rows = self._rows
        for vin in vins:
            if vin not in rows:
                missing.append(vin)
                continue
            row = rows.pop(vin)  # back in as the most recent
            rows[vin] = row
            if row is not None:
                found[vin] = row
        return found, missing

    def put(self, vins: Iterable[str], rows: Mapping[str, T]) -> None:
        """Keep what the registry said of ``vins`` at the current version (``rows``: the
        registered ones); the least recent beyond the capacity leave."""
        if self.capacity <= 0:
            return
        for vin in vins:
            self._rows.pop(vin, None)
            self._rows[vin] = rows.get(vin)
        _trim(self._rows, self.capacity)


def _trim(kept: dict[str, Any], capacity: int) -> None:
    """Drop the least recent (first inserted) entries of ``kept`` beyond ``capacity``."""
    over = len(kept) - capacity
    if over > 0:
        for vin in list(islice(kept, over)):
            del kept[vin]

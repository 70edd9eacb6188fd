"""Bounded caches keyed by VIN that keep insertion order as recency (pure, no I/O).

:class:`RegistryCache` keeps registry rows (``vehicles`` with its consent and market index):
written by imports, by other processes and by anyone with SQL, they are kept only as long as the
store's registry version (``registry_version``, migrations 0018 and 0019, moved by every
statement that changes such a row) has not moved since they were read. A reader reads the
version before the rows, so a change committed between the two reads is read again at its next
batch, never missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryCache(Generic[T]):
    """At most ``capacity`` registry rows by VIN (None: no bound; 0: none kept), ``None`` for a
    VIN the registry does not hold, valid for one registry version."""

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.version: int | None = None
        self._rows: dict[str, T | None] = {}  # insertion order: least recent first

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        """Forget every row and the version they were read at."""
        self._rows.clear()
        self.version = None

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
        if self.capacity is not None and self.capacity <= 0:
            return
        for vin in vins:
            self._rows.pop(vin, None)
            self._rows[vin] = rows.get(vin)
        if self.capacity is not None:
            trim_oldest(self._rows, self.capacity)


def trim_oldest(kept: dict[str, Any], capacity: int) -> None:
    """Drop the least recent (first inserted) entries of ``kept`` beyond ``capacity``."""
    over = len(kept) - capacity
    if over > 0:
        for vin in list(islice(kept, over)):
            del kept[vin]

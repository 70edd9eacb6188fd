"""The signals processor's cache of its vehicles' memories (pure, no I/O; compiled).

A vehicle's frames and visits all come to the member that owns its partitions, and only that
member writes its memory, so the memory it committed last is the one stored: the runner keeps
every memory of its assigned vehicles as the bytes it stored (about 1 KB each), reads from
``signal_state`` only the vehicles it has not seen since its partitions were last assigned, and
keeps the most recently used memories decoded as well (decoding one costs about as much as
folding a frame into it), at most ``decoded_limit`` of them. A batch's memories are kept only
once its transaction committed (:meth:`MemoryCache.keep`); the runner empties the cache at every
revocation. The per-vehicle loops are here, compiled, rather than in the runner: a batch holds
up to 5,000 vehicles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from processors.signals.memory import VehicleMemory


class MemoryCache:
    """Memories by VIN: every cached vehicle's bytes (None: it has none yet), and the most
    recently used of them decoded."""

    def __init__(self, decoded_limit: int) -> None:
        self.decoded_limit = decoded_limit
        self._stored: dict[str, bytes | None] = {}
        self._decoded: dict[str, VehicleMemory] = {}  # insertion order: least recent first

    def __len__(self) -> int:
        return len(self._stored)

    @property
    def decoded_count(self) -> int:
        return len(self._decoded)

    def clear(self) -> None:
        self._stored.clear()
        self._decoded.clear()

    def unknown(self, vins: Sequence[str]) -> list[str]:
        """The VINs whose memory is not cached (to be read from the store)."""
        stored = self._stored
        return [vin for vin in vins if vin not in stored]

    def add_stored(self, vins: Sequence[str], found: Mapping[str, bytes]) -> None:
        """Cache what the store holds of ``vins`` (``found``: those it has a memory of)."""
        for vin in vins:
            self._stored[vin] = found.get(vin)

    def memories(self, vins: Sequence[str]) -> dict[str, VehicleMemory | None]:
        """The cached vehicles' memories, decoded (None: none yet); ValueError for stored bytes
        that are not a memory (:meth:`VehicleMemory.from_bytes`)."""
        decoded, stored = self._decoded, self._stored
        out: dict[str, VehicleMemory | None] = {}
        for vin in vins:
            found = decoded.pop(vin, None)
            if found is not None:
                decoded[vin] = found  # back in as the most recent
                out[vin] = found
                continue
            data = stored.get(vin)
            out[vin] = None if data is None else VehicleMemory.from_bytes(data)
        return out

    def keep(self, memories: Mapping[str, VehicleMemory], states: Mapping[str, bytes]) -> None:
        """Keep a committed batch's memories and their bytes (they never change) as the most
        recent; the least recent decoded ones beyond the limit are kept as bytes only."""
        decoded = self._decoded
        for vin, state in states.items():
            self._stored[vin] = state
        for vin, memory in memories.items():
            decoded.pop(vin, None)
            decoded[vin] = memory
        over = len(decoded) - self.decoded_limit
        if over > 0:
            for vin in list(decoded)[:over]:
                del decoded[vin]


def encode(memories: Mapping[str, VehicleMemory]) -> dict[str, bytes]:
    """Every memory's bytes (:meth:`VehicleMemory.to_bytes`)."""
    return {vin: memory.to_bytes() for vin, memory in memories.items()}

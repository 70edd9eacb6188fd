"""A small per-VIN window that drops recent repeats and counts skipped sequence numbers.

Per VIN the window keeps the current ``boot_id``, the highest ``seq`` seen in that boot and a
64-bit mask of which of the 64 sequence numbers ending at the highest one were seen (bit ``i``:
``high_seq - i``). For a message ``(vin, boot_id, seq)``:

- a new VIN or a different ``boot_id`` starts a fresh window (no gap is counted: the first
  message of a boot may follow messages handled before this process started);
- ``seq`` above the highest: the ``seq - high_seq - 1`` numbers in between count as a gap;
- ``seq`` within the 64 below the highest: a repeat if its bit is set (dropped), otherwise a late
  arrival that fills an earlier gap (passed on; the gap counter is monotonic and not decreased);
- ``seq`` 64 or more below the highest: passed on unjudged (the store's unique key absorbs it).

Memory: about 250 bytes per VIN with CPython 3.11 and a 13-character ``boot_id`` (the VIN and
``boot_id`` strings, a slotted record, two ints and the ordered dict's entry; measured in the
unit tests), so 1,000,000 VINs take about 250 MB. The number of VINs is capped
(``max_vins``); the least recently seen VIN is forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

WINDOW_SEQS = 64
_MASK = (1 << WINDOW_SEQS) - 1
DEFAULT_MAX_VINS = 1_000_000


@dataclass(slots=True)
class _VinWindow:
    boot_id: str
    high_seq: int
    seen_mask: int


@dataclass(frozen=True, slots=True)
class Observation:
    """What the window concluded about one message."""

    duplicate: bool
    gap_seqs: int


NEW = Observation(duplicate=False, gap_seqs=0)
REPEAT = Observation(duplicate=True, gap_seqs=0)


class DedupeWindow:
    """Recent ``(vin, boot_id, seq)`` per VIN, for at most ``max_vins`` VINs."""

    def __init__(self, max_vins: int = DEFAULT_MAX_VINS) -> None:
        if max_vins < 1:
            raise ValueError("max_vins must be at least 1")
        self._max_vins = max_vins
        self._vins: OrderedDict[str, _VinWindow] = OrderedDict()

    def __len__(self) -> int:
        return len(self._vins)

    def clear(self) -> None:
        """Forget everything (e.g. when this process's partitions change)."""
        self._vins.clear()

    def observe(self, vin: str, boot_id: str, seq: int) -> Observation:
        """Record a message and say whether it repeats a recent one and how many seqs it skips."""
        window = self._vins.get(vin)
        if window is None or window.boot_id != boot_id:
            self._start(vin, boot_id, seq)
            return NEW
        self._vins.move_to_end(vin)
        if seq > window.high_seq:
            step = seq - window.high_seq
            window.seen_mask = ((window.seen_mask << step) | 1) & _MASK if step < WINDOW_SEQS else 1
            window.high_seq = seq
            return Observation(duplicate=False, gap_seqs=step - 1)
        behind = window.high_seq - seq
        if behind >= WINDOW_SEQS:
            return NEW
        bit = 1 << behind
        if window.seen_mask & bit:
            return REPEAT
        window.seen_mask |= bit
        return NEW

    def _start(self, vin: str, boot_id: str, seq: int) -> None:
        if vin in self._vins:
            self._vins.move_to_end(vin)
        elif len(self._vins) >= self._max_vins:
            self._vins.popitem(last=False)
        self._vins[vin] = _VinWindow(boot_id=boot_id, high_seq=seq, seen_mask=1)

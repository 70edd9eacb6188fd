"""The fleet's usage shift: how far a whole fleet drives from its own habits at once (pure).

Each car's recent rate stands for its habit when it stands far from its lifetime rate: a new
commute persists. When every car drives more or less at once (the seasons, a market), carrying
each one's recent rate forward as its habit is wrong for all of them together
(docs/signals.md, "Other kinds of fleet"). Over the cars with a year behind them the ratio of the
recent to the lifetime rate is about 1 whatever each car's habit; its median, away from 1, is
the part of every car's recent rate the fleet shares, and the estimate takes it off each car's
recent rate before pooling it with the lifetime rate
(:func:`~processors.signals.estimate.estimate_usage`).

It is kept per partition of ``telemetry.frames`` (a vehicle's frames all go to one) in a way that
gives the same signals however the records are cut into batches and after a restart:

* each vehicle counts in its partition's histogram of the current 28-day epoch
  (:data:`EPOCH_DAYS`) with the bin of its log ratio (:func:`ratio_bin`, :data:`BIN_WIDTH`
  wide) from its last evaluation on a frame in that epoch
  (:attr:`~processors.signals.memory.VehicleMemory.usage_bin`); the previous epoch's histogram
  is kept beside it, so that a vehicle that stops reporting drops out after two epochs;
* the shift in force changes only at a *tick*: the partition's first record, in log order, of a
  UTC day later than any before it. The shift is then the median bin of both histograms, 0
  while fewer than :data:`MIN_VEHICLES` count in either, at most :data:`MAX_SHIFT` bins either
  way;
* the runner cuts a batch before each tick (:mod:`.segments`), so a tick sees exactly the
  evaluations of the records before it, and commits each partition's :class:`PartitionShift`
  with its offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BIN_WIDTH = 0.05
"""Width of a bin of log(recent / lifetime): 5 %. A shared shift under half a bin (a fleet's
median within about 2.5 % of its habits) is no shift."""
MAX_BIN = 20
"""Ratios beyond exp(+-1) count in the outermost bins."""
MAX_SHIFT = 8
"""The shift in force is at most 8 bins (a factor of exp(0.4), about 1.5) either way: a median
further out is a fleet whose lifetime rates are wrong, not a season."""
MIN_VEHICLES = 20
"""A partition's shift is 0 until this many of its vehicles count (a median of fewer is mostly
their own habits)."""
_BINS = 2 * MAX_BIN + 1


def ratio_bin(ratio: float) -> int:
    """The bin of ``log(ratio)`` (``ratio`` > 0), clamped to +-:data:`MAX_BIN`."""
    b = round(math.log(ratio) / BIN_WIDTH)
    return max(-MAX_BIN, min(MAX_BIN, b))


def shift_log(shift_bins: int) -> float:
    """A shift in bins as a log of the rate ratio."""
    return shift_bins * BIN_WIDTH


def median_bin(counts: tuple[int, ...]) -> int:
    """The lower median bin of a histogram (index 0 is bin -:data:`MAX_BIN`), clamped to
    +-:data:`MAX_SHIFT`; 0 with fewer than :data:`MIN_VEHICLES` counted."""
    n = sum(counts)
    if n < MIN_VEHICLES:
        return 0
    half, seen = (n + 1) // 2, 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= half:
            return max(-MAX_SHIFT, min(MAX_SHIFT, i - MAX_BIN))
    raise AssertionError("unreachable: the counts sum to n")


EMPTY = (0,) * _BINS
EPOCH_DAYS = 28
"""A partition's histogram is kept per 28-day epoch of event time, the current one and the one
before: a vehicle counts in each epoch it was evaluated in (its last bin there), and one that
stops reporting drops out after two."""


def epoch_of(day: int) -> int:
    """The epoch of a UTC day (days since the epoch)."""
    return day // EPOCH_DAYS


@dataclass(frozen=True, slots=True)
class PartitionShift:
    """One partition's histograms of its vehicles' bins (this epoch's and the last one's), its
    newest UTC day of frames and the shift in force since that day's tick."""

    day: int = -1
    """UTC day (days since the epoch) of the partition's newest frame so far; -1 before any."""
    shift: int = 0
    """The shift in force, in bins."""
    counts: tuple[int, ...] = EMPTY
    """Vehicles per bin in the epoch of :attr:`day`, from bin -:data:`MAX_BIN` to
    +:data:`MAX_BIN`."""
    previous: tuple[int, ...] = EMPTY
    """The same in the epoch before."""

    def at_tick(self, day: int) -> PartitionShift:
        """The state once a record of a later ``day`` is read: the histograms moved on to its
        epoch, the shift recomputed from both."""
        counts, previous = self.counts, self.previous
        gone = epoch_of(day) - epoch_of(self.day)
        if gone:
            counts, previous = EMPTY, (counts if gone == 1 else EMPTY)
        both = tuple(a + b for a, b in zip(counts, previous, strict=True))
        enough = max(sum(counts), sum(previous)) >= MIN_VEHICLES
        return PartitionShift(day, median_bin(both) if enough else 0, counts, previous)

    def moved(
        self, old: int | None, old_epoch: int, new: int | None, new_epoch: int
    ) -> PartitionShift:
        """The state once a vehicle's bin went from ``old`` (counted in ``old_epoch``) to
        ``new`` (to count in ``new_epoch``); None: not counted. A vehicle's bin replaces its
        earlier one of the same epoch; a bin of an epoch before the last is history."""
        if (old, old_epoch) == (new, new_epoch):
            return self
        here = epoch_of(self.day)
        slots = {here: list(self.counts), here - 1: list(self.previous)}
        if old is not None and old_epoch == new_epoch and old_epoch in slots:
            slot = slots[old_epoch]
            slot[old + MAX_BIN] = max(slot[old + MAX_BIN] - 1, 0)
        if new is not None and new_epoch in slots:
            slots[new_epoch][new + MAX_BIN] += 1
        return PartitionShift(self.day, self.shift, tuple(slots[here]), tuple(slots[here - 1]))

    @property
    def vehicles(self) -> int:
        """Vehicles counted this epoch or the last (one counted in both, once)."""
        return max(sum(self.counts), sum(self.previous))

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "shift": self.shift,
            "counts": list(self.counts),
            "previous": list(self.previous),
        }

    @classmethod
    def from_json(cls, data: Any) -> PartitionShift:
        """Decode :meth:`as_json`; ValueError for a damaged state."""
        try:
            counts = tuple(int(c) for c in data["counts"])
            previous = tuple(int(c) for c in data["previous"])
            day, shift = int(data["day"]), int(data["shift"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"damaged usage shift state: {exc!r}") from exc
        for histogram in (counts, previous):
            if len(histogram) != _BINS or min(histogram) < 0:
                raise ValueError(f"damaged usage shift state: {len(histogram)} bins")
        return cls(day, shift, counts, previous)

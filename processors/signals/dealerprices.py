"""Each dealer's price level, pooled over the invoices of every vehicle it serviced (pure).

A dealer's parts prices and labour rate are the dealer's, not the vehicle's: a car with one or
no invoice behind it is billed at its dealer's prices as surely as one with ten. Each vehicle's
own invoices (:mod:`.calibration`) say little until it has a few; the dealer's other customers
have said it already. So each partition of ``telemetry.frames`` (a vehicle's frames and visits go
to the same partition number, :mod:`.runner`) pools the priced lines of the dealer visits its
vehicles made, per dealer, as :class:`~processors.signals.calibration.PriceLevel` does for one
vehicle (the same shrinkage toward the catalog). A vehicle's bill takes the pooled level when it
counts more lines than the vehicle's own (:func:`.calibration.level_in_force`).

The pool changes only at the partition's ticks (:mod:`.fleetshift`, :mod:`.segments`), so the
signals stay the same however the records are cut into batches and after a restart: a visit's
lines wait in the partition's state, in the order they were folded, until the first tick of a
day more than :data:`LAG_DAYS` after the visit's own. The lag keeps a replay (which reads every
visit first) and a live run (which reads each visit about when it was invoiced) alike: both have
read a visit by then, unless it was published more than a week after the visit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from processors.signals.calibration import PriceLevel

LAG_DAYS = 7
"""A visit's lines join its dealer's pool at the first tick more than 7 days after the visit."""


@dataclass(frozen=True, slots=True)
class PricedLines:
    """What one visit's invoice said of its dealer's prices (:func:`.calibration.observe`)."""

    day: int
    """UTC day of the visit (days since the epoch)."""
    dealer_id: str
    lines: int
    log_sum: float


@dataclass(frozen=True, slots=True)
class DealerPrices:
    """One partition's pooled levels, by dealer, and the lines waiting to join them."""

    dealers: tuple[tuple[str, int, float], ...] = ()
    """(dealer id, lines, sum of log ratios), by dealer id."""
    pending: tuple[PricedLines, ...] = ()
    """Lines not pooled yet, in the order they were folded."""

    def levels(self) -> dict[str, PriceLevel]:
        """Each dealer's pooled level (a dealer absent: no line pooled yet)."""
        return {dealer: PriceLevel(lines, log_sum) for dealer, lines, log_sum in self.dealers}

    def observed(self, seen: Iterable[PricedLines]) -> DealerPrices:
        """The state once ``seen`` (in the order folded) wait to be pooled."""
        more = tuple(seen)
        return DealerPrices(self.dealers, self.pending + more) if more else self

    def at_tick(self, day: int) -> DealerPrices:
        """The state at the tick of UTC ``day``: the waiting lines of visits more than
        :data:`LAG_DAYS` before it pooled, in order."""
        ripe = [p for p in self.pending if p.day < day - LAG_DAYS]
        if not ripe:
            return self
        pools = {dealer: (lines, log_sum) for dealer, lines, log_sum in self.dealers}
        for p in ripe:
            lines, log_sum = pools.get(p.dealer_id, (0, 0.0))
            pools[p.dealer_id] = (lines + p.lines, round(log_sum + p.log_sum, 6))
        return DealerPrices(
            tuple((d, n, s) for d, (n, s) in sorted(pools.items())),
            tuple(p for p in self.pending if p.day >= day - LAG_DAYS),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "dealers": {dealer: [lines, log_sum] for dealer, lines, log_sum in self.dealers},
            "pending": [[p.day, p.dealer_id, p.lines, p.log_sum] for p in self.pending],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DealerPrices:
        """Decode :meth:`as_json` (None or absent: empty, as stored before pooling existed);
        ValueError for a damaged state."""
        if data is None:
            return cls()
        try:
            dealers = tuple(
                (str(d), int(v[0]), float(v[1])) for d, v in sorted(data["dealers"].items())
            )
            pending = tuple(
                PricedLines(int(day), str(dealer), int(lines), float(log_sum))
                for day, dealer, lines, log_sum in data["pending"]
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"damaged dealer prices state: {exc!r}") from exc
        return cls(dealers, pending)

"""What a partition of ``telemetry.frames`` keeps of its fleet, beside its vehicles' memories
(pure): the fleet's usage shift (:mod:`.fleetshift`) and its dealers' pooled prices
(:mod:`.dealerprices`). Both change only at the partition's ticks (:mod:`.segments`) and are
committed with its offsets, one JSON document per partition (``usage_shift.state``,
docs/store.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from processors.signals.dealerprices import DealerPrices
from processors.signals.fleetshift import PartitionShift


@dataclass(frozen=True, slots=True)
class PartitionState:
    shift: PartitionShift = field(default_factory=PartitionShift)
    prices: DealerPrices = field(default_factory=DealerPrices)

    def at_tick(self, day: int) -> PartitionState:
        return PartitionState(self.shift.at_tick(day), self.prices.at_tick(day))

    def as_json(self) -> dict[str, Any]:
        return {**self.shift.as_json(), "dealer_prices": self.prices.as_json()}

    @classmethod
    def from_json(cls, data: Any) -> PartitionState:
        """Decode :meth:`as_json` (a state stored before dealer prices were pooled has none);
        ValueError for a damaged state."""
        shift = PartitionShift.from_json(data)
        return cls(shift, DealerPrices.from_json(data.get("dealer_prices")))

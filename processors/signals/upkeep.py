"""What visits and telemetry say about a vehicle's maintenance (values only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from processors.signals.wearlife import Bracket


@dataclass(frozen=True, slots=True)
class ServicePoint:
    """A visit: when, at which odometer, and its id."""

    ts_ms: int
    odometer_m: int
    visit_id: str


@dataclass(slots=True)
class Upkeep:
    last_service: ServicePoint | None = None
    """The latest visit with a scheduled item: the schedule runs from it (else from delivery)."""
    last_visit: ServicePoint | None = None
    """The latest visit of any kind (its odometer is a reading too)."""
    wear_replaced: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Wear item id -> (time in ms, odometer in m) of its last replacement at a visit."""
    active_faults: tuple[str, ...] = ()
    """Active diagnostic codes, sorted."""
    wear_factors: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Wear item id -> its life relative to the catalog's, from the dealer's replacements
    (:mod:`processors.signals.wearlife`; 1.0 when absent)."""
    wear_life: Mapping[str, Bracket] = field(default_factory=lambda: MappingProxyType({}))
    """Wear item id -> what the dealer's replacements say of its life factor (the bracket whose
    estimate is in ``wear_factors``; no bound when absent)."""
    lateness: tuple[int, ...] = ()
    """Days the owner came after each of their last services fell due, oldest first
    (:mod:`processors.signals.lateness`)."""
    price_factor: float = 1.0
    """The dealer's prices relative to the catalog's, from past invoices
    (:mod:`processors.signals.calibration`)."""
    price_lines: int = 0
    """The invoiced lines :attr:`price_factor` was learnt from (0: the catalog's prices)."""
    price_pooled: bool = False
    """Whether they are the dealer's customers' (its pool, :mod:`processors.signals.
    dealerprices`) rather than this vehicle's own."""

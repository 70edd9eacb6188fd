"""Each vehicle's true wear: how long its parts really last, and when they were last replaced.

The catalog (``reference/data/wear.toml``) gives each wear item's typical life in km and/or
months. A vehicle's own parts last that life times a factor drawn once per vehicle and item
(lognormal with mean 1, ``wear.life_sigma``: driving style, roads, climate), the same factor on
distance and on time. Every part is new at delivery. At a service the garage replaces each part
that would be past its true life by the next service, whoever services the vehicle: a
replacement at an independent garage is as real as one at the dealer, only nobody tells the
dealer. The next service is judged from the vehicle's pace since its last one (delivery for the
first): it comes after ``interval_months`` or ``interval_km`` at that pace, whichever is first
(:func:`next_service_ahead`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from reference.catalog import WearItem
from simulator.world.prices import mean_one_many

DAYS_PER_MONTH = 365.25 / 12.0


@dataclass(slots=True)
class Part:
    """One wear item of a vehicle: its true life and its last replacement (or delivery)."""

    item: WearItem
    factor: float
    life_km: float | None
    life_days: float | None
    replaced_on: date
    replaced_at_m: int

    def due(self, day: date, odometer_m: int, ahead_km: float, ahead_days: float) -> bool:
        """Whether the part is past its true life ``ahead_km`` / ``ahead_days`` from now."""
        by_distance = (
            self.life_km is not None
            and odometer_m - self.replaced_at_m + ahead_km * 1000.0 >= self.life_km * 1000.0
        )
        by_time = (
            self.life_days is not None
            and (day - self.replaced_on).days + ahead_days >= self.life_days
        )
        return by_distance or by_time

    def as_json(self) -> dict[str, Any]:
        return {
            "item": self.item.item,
            "life_factor": round(self.factor, 4),
            "life_km": None if self.life_km is None else round(self.life_km, 1),
            "life_months": (
                None if self.life_days is None else round(self.life_days / DAYS_PER_MONTH, 2)
            ),
            "replaced_on": self.replaced_on.isoformat(),
            "replaced_at_m": self.replaced_at_m,
        }


@dataclass(slots=True)
class WearState:
    """Every wear item a vehicle's powertrain has, in catalog order."""

    parts: list[Part]

    @classmethod
    def new(
        cls,
        rng: np.random.Generator,
        items: Sequence[WearItem],
        powertrain: str,
        delivered: date,
        odometer_m: int,
        sigma: float,
    ) -> WearState:
        """New parts at delivery with lives drawn around the catalog's (one draw per item)."""
        factors = mean_one_many(rng, sigma, len(items))
        parts = []
        for item, factor in zip(items, factors, strict=True):
            km = item.life_km_for(powertrain)
            parts.append(
                Part(
                    item=item,
                    factor=factor,
                    life_km=None if km is None else km * factor,
                    life_days=(
                        None
                        if item.life_months is None
                        else item.life_months * DAYS_PER_MONTH * factor
                    ),
                    replaced_on=delivered,
                    replaced_at_m=odometer_m,
                )
            )
        return cls(parts)

    def due(self, day: date, odometer_m: int, ahead_km: float, ahead_days: float) -> list[Part]:
        """The parts a garage replaces at a service on ``day``, in catalog order: those past
        their true life ``ahead_km`` and ``ahead_days`` later."""
        return [p for p in self.parts if p.due(day, odometer_m, ahead_km, ahead_days)]

    @staticmethod
    def replace(parts: Sequence[Part], day: date, odometer_m: int) -> None:
        for part in parts:
            part.replaced_on, part.replaced_at_m = day, odometer_m


def next_service_ahead(
    interval_km: float,
    interval_months: int,
    since: date,
    since_odometer_m: int,
    day: date,
    odometer_m: int,
) -> tuple[float, float]:
    """``(km, days)`` to the next service at the pace driven since ``since``: ``interval_months``
    or ``interval_km``, whichever comes first."""
    interval_days = interval_months * DAYS_PER_MONTH
    km_per_day = max(0, odometer_m - since_odometer_m) / 1000.0 / max(1, (day - since).days)
    if km_per_day * interval_days <= interval_km:
        return km_per_day * interval_days, interval_days
    return interval_km, interval_km / km_per_day

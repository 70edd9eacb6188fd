"""What a service visit finds and what its invoice says (pure, seeded).

An invoice has, in this order:

1. the scheduled service (``kind`` ``scheduled``), catalog price of the powertrain's service;
2. each wear item the vehicle's true wear state makes due (``wear``, see :mod:`.wear`), at the
   catalog's expected price of the item;
3. the repair of each code active until a service (``repair``), at the catalog's expected cost
   of the code (``reference/data/codes.toml``);
4. with probability ``invoices.other_repair_probability``, one unrelated small repair
   (``other``) priced uniformly in ``invoices.other_repair_usd``.

Every line's price is the garage's price of its catalog figure (:mod:`.prices`) times a line
noise (lognormal with mean 1, ``invoices.item_sigma``), rounded to cents. A line whose coverage
(``coverage`` of the code or wear item) is in force on the visit's day and odometer is paid by
the warranty: the owner pays 0 for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from reference.catalog import Catalog, CodeSpec, ServiceSpec, WarrantySpec
from simulator.scenario.world import InvoicesSection, WearSection
from simulator.world.events import BillItem
from simulator.world.fleet import Vehicle
from simulator.world.prices import DEALER, Garage, independent_garage, mean_one
from simulator.world.wear import WearState, next_service_ahead

SCHEDULED_ITEM = "scheduled service"
# Small repairs a visit turns up that no code announced. Assumption: a few common ones.
OTHER_REPAIRS = (
    "bulb replacement",
    "wiper washer pump",
    "door seal",
    "horn",
    "exhaust hanger",
    "key fob battery",
    "tyre puncture repair",
    "coolant hose clamp",
)


def add_years(day: date, years: int) -> date:
    """``day`` plus whole years (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def in_force(
    warranty: WarrantySpec, coverage: str, delivered: date, day: date, odometer_m: int
) -> bool:
    """Whether ``coverage`` (``basic``, ``powertrain``, ``traction_battery``; ``none`` never)
    still pays on ``day`` at ``odometer_m``: before its time limit and below its distance."""
    terms = warranty.coverage(coverage)
    if terms is None:
        return False
    return day < add_years(delivered, terms.years) and odometer_m < terms.limit_km * 1000.0


@dataclass(slots=True)
class ServiceWorld:
    """One vehicle's garages, wear and invoice randomness (``rng`` is its own stream)."""

    dealer: Garage
    independent: Garage
    wear: WearState
    rng: np.random.Generator
    invoices: InvoicesSection
    warranty: WarrantySpec
    delivered: date
    delivered_m: int

    def garage(self, where: str) -> Garage:
        return self.dealer if where == DEALER else self.independent

    def invoice(
        self,
        where: str,
        schedule: ServiceSpec,
        day: date,
        odometer_m: int,
        repairs: Sequence[CodeSpec],
        since: tuple[date, int] | None = None,
    ) -> tuple[BillItem, ...]:
        """The lines of a visit on ``day`` (see the module docstring); replaces the worn parts.
        ``since``: day and odometer of the last service (default: delivery)."""
        garage = self.garage(where)
        last_day, last_m = since if since is not None else (self.delivered, self.delivered_m)
        ahead_km, ahead_days = next_service_ahead(
            schedule.interval_km, schedule.interval_months, last_day, last_m, day, odometer_m
        )
        due = self.wear.due(day, odometer_m, ahead_km, ahead_days)
        lines: list[tuple[str, str, str | None, float, str]] = [
            ("scheduled", SCHEDULED_ITEM, None, schedule.price.expected, "none")
        ]
        lines += [
            ("wear", p.item.description, p.item.item, p.item.price.expected, p.item.coverage)
            for p in due
        ]
        lines += [
            ("repair", c.fault.repair, c.code, c.fault.cost.expected, c.fault.coverage)
            for c in repairs
        ]
        inv = self.invoices
        if self.rng.random() < inv.other_repair_probability:
            name = OTHER_REPAIRS[int(self.rng.integers(0, len(OTHER_REPAIRS)))]
            base = float(self.rng.uniform(*inv.other_repair_usd))
            lines.append(("other", name, None, base, "none"))
        items = []
        for kind, name, code, expected, coverage in lines:
            price = round(garage.price_usd(expected, kind) * mean_one(self.rng, inv.item_sigma), 2)
            covered = in_force(self.warranty, coverage, self.delivered, day, odometer_m)
            items.append(
                BillItem(
                    item=name,
                    cost_usd=0.0 if covered else price,
                    code=code,
                    kind=kind,
                    price_usd=price,
                    covered_by=coverage if covered else None,
                )
            )
        self.wear.replace(due, day, odometer_m)
        return tuple(items)


def service_world(
    rng: np.random.Generator,
    vehicle: Vehicle,
    catalog: Catalog,
    dealer: Garage,
    invoices: InvoicesSection,
    wear: WearSection,
) -> ServiceWorld:
    """A vehicle's service world: draws its independent garage, then its parts' true lives."""
    factor, sigma = catalog.independent_price_factor, invoices.independent_sigma
    independent = independent_garage(rng, factor, sigma)
    parts = WearState.new(
        rng,
        catalog.wear_for(vehicle.powertrain),
        vehicle.powertrain,
        vehicle.delivery_date,
        vehicle.delivery_odometer_m,
        wear.life_sigma,
    )
    return ServiceWorld(
        dealer=dealer,
        independent=independent,
        wear=parts,
        rng=rng,
        invoices=invoices,
        warranty=catalog.warranty_for(vehicle.brand),
        delivered=vehicle.delivery_date,
        delivered_m=vehicle.delivery_odometer_m,
    )


def neutral_world(vehicle: Vehicle, catalog: Catalog) -> ServiceWorld:
    """The catalog's world exactly: dealer at catalog prices, catalog lives, no noise, no
    unrelated repairs (for callers that do not model the world's departures)."""
    dealer = Garage(DEALER, vehicle.dealer_id, 1.0, 1.0)
    quiet = InvoicesSection(item_sigma=0.0, other_repair_probability=0.0, independent_sigma=0.0)
    return service_world(
        np.random.default_rng(0), vehicle, catalog, dealer, quiet, WearSection(life_sigma=0.0)
    )

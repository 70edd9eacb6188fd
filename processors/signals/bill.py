"""The predicted bill of a vehicle's next service, line by line (pure).

Priced at the service's forecast date and odometer: the scheduled service's price range; each
wear item that will be past its life by the *following* service, or within :data:`MARGIN_DAYS` /
:data:`MARGIN_KM` after it (what a garage replaces so the part lasts to the next visit; the
following service is one interval later at the vehicle's pace, whichever of its months or
distance comes first), counted from its last replacement at a visit or from delivery; the repair
of each active catalogued code (a code the catalog does not price adds no line). A line whose
coverage is in force on the forecast date and odometer is covered: its amounts are 0.

A part's life is the catalog's times this vehicle's own factor for it, learnt from what the
dealer replaced and kept at past services (:func:`learn_from_visit`,
:mod:`processors.signals.wearlife`). Prices are the dealer's: the catalog's times its level
learnt from past invoices (:mod:`processors.signals.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from database.vehicle_facts import VehicleFacts
from processors.signals.dates import ms_to_datetime
from processors.signals.pricing import Pricing, in_force
from processors.signals.upkeep import Upkeep
from processors.signals.views import Bill, BillLine, cents
from processors.signals.wearlife import DAYS_PER_MONTH, Bracket, used_share
from reference.catalog import Catalog, PriceRange, ServiceSpec, WarrantySpec, WearItem

SCHEDULED = "Scheduled service"
MARGIN_DAYS, MARGIN_KM = 30, 1000.0
"""A part that would run out this close after the following service is replaced now: owners
rarely come exactly on the due date, and no garage sends a car out to fail on the way."""


def ahead(interval_km: float, interval_months: int, km_per_day: float) -> tuple[float, float]:
    """``(km, days)`` from one service to the next at ``km_per_day``: the interval's months or
    its distance, whichever comes first."""
    days = interval_months * DAYS_PER_MONTH
    if km_per_day * days <= interval_km:
        return km_per_day * days, days
    return interval_km, interval_km / km_per_day


@dataclass(frozen=True, slots=True)
class _Lines:
    """Prices lines for one forecast point (``day``, ``at_km``)."""

    vehicle: VehicleFacts
    terms: WarrantySpec
    pricing: Pricing
    day: date
    at_km: float

    def line(
        self,
        kind: str,
        code: str | None,
        description: str,
        usd: PriceRange,
        coverage: str,
        reason: str,
    ) -> BillLine:
        if in_force(self.terms, coverage, self.vehicle.delivery_date, self.day, self.at_km):
            reason = f"{reason}; covered by the {coverage.replace('_', ' ')} warranty"
            return BillLine(kind, code, description, 0.0, 0.0, 0.0, True, coverage, reason)
        p = self.pricing.price(usd)
        return BillLine(kind, code, description, p.low, p.expected, p.high, False, coverage, reason)

    def wear(self, item: WearItem, upkeep: Upkeep, by_day: date, by_km: float) -> BillLine | None:
        since, since_km = replaced_last(self.vehicle, upkeep, item.item)
        life_km = item.life_km_for(self.vehicle.powertrain)
        factor = upkeep.wear_factors.get(item.item, 1.0)
        used = used_share(life_km, item.life_months, since, since_km, by_day, by_km)
        if used < factor:
            return None
        own = "" if factor == 1.0 else f" (this car's parts last {factor:.0%} of the usual)"
        by_distance = life_km is not None and (
            item.life_months is None
            or used_share(life_km, None, since, since_km, by_day, by_km)
            >= used_share(None, item.life_months, since, since_km, by_day, by_km)
        )
        if by_distance and life_km is not None:
            why = f"{item.description} due at about {since_km + life_km * factor:,.0f} km{own}"
        else:
            months = (item.life_months or 0) * factor
            due = since + timedelta(days=round(months * DAYS_PER_MONTH))
            why = f"{item.description} due by {due.isoformat()} ({months:.0f} months){own}"
        return self.line("wear", item.item, item.description, item.price, item.coverage, why)


def replaced_last(vehicle: VehicleFacts, upkeep: Upkeep, item: str) -> tuple[date, float]:
    """(date, km) of an item's last replacement at a visit, else of the delivery."""
    record = upkeep.wear_replaced.get(item)
    if record is None:
        return vehicle.delivery_date, vehicle.delivery_odometer_m / 1000.0
    return ms_to_datetime(record[0]).date(), record[1] / 1000.0


def learn_from_visit(
    brackets: dict[str, Bracket],
    vehicle: VehicleFacts,
    catalog: Catalog,
    upkeep: Upkeep,
    day: date,
    at_km: float,
    replaced: set[str],
) -> dict[str, Bracket]:
    """``brackets`` after a full service on ``day`` at ``at_km`` that replaced ``replaced``:
    each part is judged as the garage judged it, by the following service (no margin: the
    garage saw the car), at the pace driven since the last service known (else delivery)."""
    last = upkeep.last_service
    since = vehicle.delivery_date if last is None else ms_to_datetime(last.ts_ms).date()
    since_km = (vehicle.delivery_odometer_m if last is None else last.odometer_m) / 1000.0
    days = (day - since).days
    if days <= 0 or at_km <= since_km:
        return brackets
    schedule = catalog.service.get(vehicle.powertrain)
    if schedule is None:
        return brackets
    ahead_km, ahead_days = ahead(
        schedule.interval_km, schedule.interval_months, (at_km - since_km) / days
    )
    by_day, by_km = day + timedelta(days=int(ahead_days)), at_km + ahead_km
    out = dict(brackets)
    for item in catalog.wear_for(vehicle.powertrain):
        start, start_km = replaced_last(vehicle, upkeep, item.item)
        life_km = item.life_km_for(vehicle.powertrain)
        used = used_share(life_km, item.life_months, start, start_km, by_day, by_km)
        if used <= 0:
            continue
        bracket = out.get(item.item, Bracket())
        out[item.item] = (
            bracket.replaced_at(used) if item.item in replaced else bracket.kept_at(used)
        )
    return out


def service_bill(
    vehicle: VehicleFacts,
    catalog: Catalog,
    pricing: Pricing,
    schedule: ServiceSpec,
    upkeep: Upkeep,
    day: date,
    at_km: float,
    km_per_day: float,
) -> Bill:
    """The bill of a service on ``day`` at ``at_km`` (see the module docstring)."""
    lines = _Lines(vehicle, catalog.warranty_for(vehicle.brand), pricing, day, at_km)
    reason = (
        f"{SCHEDULED} (every {schedule.interval_km:,.0f} km or {schedule.interval_months} "
        f"months) due about {day.isoformat()} at about {at_km:,.0f} km"
    )
    out = [lines.line("scheduled", None, SCHEDULED, schedule.price, "none", reason)]
    ahead_km, ahead_days = ahead(schedule.interval_km, schedule.interval_months, km_per_day)
    by_day = day + timedelta(days=int(ahead_days) + MARGIN_DAYS)
    for item in catalog.wear_for(vehicle.powertrain):
        line = lines.wear(item, upkeep, by_day, at_km + ahead_km + MARGIN_KM)
        if line is not None:
            out.append(line)
    for code in upkeep.active_faults:
        fault = catalog.fault(code)
        if fault is not None:
            why = f"code {code} active: {fault.description}"
            out.append(lines.line("repair", code, fault.repair, fault.cost, fault.coverage, why))
    return Bill(
        pricing.currency,
        cents(sum(x.low for x in out)),
        cents(sum(x.expected for x in out)),
        cents(sum(x.high for x in out)),
        tuple(out),
    )

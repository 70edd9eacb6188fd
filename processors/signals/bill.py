"""The predicted bill of a vehicle's next service, line by line (pure).

Priced at the service's forecast date and odometer: the scheduled service's price range; each
wear item that will be past its catalog life by the *following* service (what a garage replaces
so the part lasts to the next visit; the following service is one interval later at the
vehicle's pace, whichever of its months or distance comes first), counted from its last
replacement at a visit or from delivery; the repair of each active catalogued code (a code the
catalog does not price adds no line). A line whose coverage is in force on the forecast date
and odometer is covered: its amounts are 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from database.vehicle_facts import VehicleFacts
from processors.signals.dates import datetime_to_ms, midnight_utc, ms_to_datetime
from processors.signals.pricing import Pricing, in_force
from processors.signals.service import WearLife, wear_item_due
from processors.signals.upkeep import Upkeep
from processors.signals.views import Bill, BillLine, cents
from reference.catalog import Catalog, PriceRange, ServiceSpec, WarrantySpec, WearItem

DAYS_PER_MONTH = 365.25 / 12.0
SCHEDULED = "Scheduled service"


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
        v = self.vehicle
        delivered = (datetime_to_ms(midnight_utc(v.delivery_date)), v.delivery_odometer_m)
        ts_ms, odo_m = upkeep.wear_replaced.get(item.item, delivered)
        life = WearLife(item.life_km_for(v.powertrain), item.life_months)
        due = wear_item_due(life, ms_to_datetime(ts_ms).date(), odo_m / 1000.0, by_day, by_km)
        if not due.due:
            return None
        if "distance" in due.reasons and due.due_odometer_km is not None:
            why = f"{item.description} due at about {due.due_odometer_km:,.0f} km"
        else:
            assert due.due_date is not None
            months = item.life_months
            why = f"{item.description} due by {due.due_date.isoformat()} ({months} months)"
        return self.line("wear", item.item, item.description, item.price, item.coverage, why)


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
    by_day = day + timedelta(days=int(ahead_days))
    for item in catalog.wear_for(vehicle.powertrain):
        line = lines.wear(item, upkeep, by_day, at_km + ahead_km)
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

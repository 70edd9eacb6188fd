"""When a vehicle is serviced, where, and what the bill says (pure).

A service falls due ``interval_months`` after the last one or when the odometer has grown by
``interval_km``, whichever comes first. The owner then goes a number of days later that depends
on their behaviour (on time, late, or lapsed to an independent garage). Before the simulated
period the odometer is taken as growing linearly from delivery, which gives each vehicle a
service history and a last service when the period starts. What a visit finds and costs is the
vehicle's :class:`~simulator.world.invoices.ServiceWorld` (its garages, its true wear).

Owners respond to a dealer that acts on its alerts (``[owners.response]``, docs/simulator.md
"Owners respond"): for a service that falls due from the period's start on, an owner who has
service-reminder consent when the dealer's reminder goes out (``reminder_lead_days`` before the
due date) and who would go late or to an independent garage books at the dealer on time instead,
with probability ``booking_uplift``. Those draws come from the planner's own stream, so with the
effect off (0) the fleet is exactly as without it.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from reference.catalog import Catalog, CodeSpec, ServiceSpec
from simulator.scenario.people import OwnersSection
from simulator.world.events import ServiceVisit
from simulator.world.fleet import Vehicle
from simulator.world.invoices import ServiceWorld, neutral_world
from simulator.world.owners import Owner
from simulator.world.usage import HOUR_MS, day_start_ms

# Vehicles are dropped off before the day's first trips.
SERVICE_HOUR = 5


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months (the 31st becomes the month's last day)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def service_ms(day: date) -> int:
    """When a service on ``day`` takes place (epoch ms UTC)."""
    return day_start_ms(day) + SERVICE_HOUR * HOUR_MS


@dataclass(slots=True)
class ServicePlanner:
    """One vehicle's service cycle: the last visit, when the next is due, when it will happen."""

    vehicle: Vehicle
    owner: Owner
    schedule: ServiceSpec
    owners: OwnersSection
    world: ServiceWorld
    last_date: date
    last_odometer_m: int
    visits: int = 0
    due_date: date = date.min
    due_by: str = "time"
    offset_days: int = 0
    respond_rng: np.random.Generator | None = None
    """The response draws' own stream; None: the effect is off."""
    respond_from: date = date.max
    """Services due from this day on may be booked in response to a reminder."""
    responded: bool = False
    """This cycle's owner booked at the dealer, on time, after the dealer's reminder."""
    unresponsive_offset_days: int = 0
    """The cycle's offset without the response (restored if the cycle falls due earlier)."""

    @property
    def planned(self) -> date:
        return self.due_date + timedelta(days=self.offset_days)

    def begin_cycle(self, rng: np.random.Generator) -> None:
        """After a visit (or delivery): due by time until the distance limit is seen."""
        self.due_date = add_months(self.last_date, self.schedule.interval_months)
        self.due_by = "time"
        self.responded = False
        lo, hi = self._offset_range()
        self.offset_days = int(rng.integers(lo, hi + 1))
        self._respond()

    def _respond(self) -> None:
        """Whether this cycle's owner books at the dealer on time after a reminder."""
        r = self.owners.response
        if self.respond_rng is None or self.due_date < self.respond_from:
            return
        if self.where() == "dealer" and self.owner.service_behaviour != "late":
            return  # books at the dealer on time anyway
        reminded = max(self.due_date - timedelta(days=r.reminder_lead_days), self.respond_from)
        if not self.owner.consents("service_reminders", day_start_ms(reminded)):
            return  # the dealer may not remind this owner
        if self.respond_rng.random() >= r.booking_uplift:
            return
        lo, hi = self.owners.on_time_days
        self.unresponsive_offset_days = self.offset_days
        self.offset_days = int(self.respond_rng.integers(lo, hi + 1))
        self.responded = True

    def observe(self, day: date, odometer_m: int) -> None:
        """End of ``day``: if the distance limit was reached first, the service is due now."""
        limit_m = self.last_odometer_m + self.schedule.interval_km * 1000
        if self.due_by == "time" and odometer_m >= limit_m and day < self.due_date:
            self.due_date, self.due_by = day, "distance"
            if self.responded and day < self.respond_from:
                # Due before the dealer could remind: the owner goes as without the effect.
                self.responded = False
                self.offset_days = self.unresponsive_offset_days
            self.offset_days = max(self.offset_days, 1)

    def where(self) -> str:
        if self.responded:
            return "dealer"
        lapsed = self.owner.lapse_after_services
        return "independent" if lapsed is not None and self.visits >= lapsed else "dealer"

    def visit(
        self, rng: np.random.Generator, day: date, odometer_m: int, repairs: Sequence[CodeSpec]
    ) -> ServiceVisit:
        """Service on ``day``: repairs ``repairs`` and starts the next cycle."""
        where = self.where()
        since = (self.last_date, self.last_odometer_m)
        items = self.world.invoice(where, self.schedule, day, odometer_m, repairs, since)
        event = ServiceVisit(
            vin=self.vehicle.vin,
            ts_ms=service_ms(day),
            odometer_m=odometer_m,
            where=where,
            dealer_id=self.vehicle.dealer_id if where == "dealer" else None,
            due_date=self.due_date,
            due_by=self.due_by,
            behaviour=self.owner.service_behaviour,
            items=items,
            responded=self.responded,
        )
        self.last_date, self.last_odometer_m = day, odometer_m
        self.visits += 1
        self.begin_cycle(rng)
        return event

    def _offset_range(self) -> tuple[int, int]:
        if self.where() == "independent":
            return self.owners.independent_days
        if self.owner.service_behaviour == "late":
            return self.owners.late_days
        return self.owners.on_time_days


def start_planner(
    rng: np.random.Generator,
    vehicle: Vehicle,
    owner: Owner,
    catalog: Catalog,
    owners: OwnersSection,
    start: date,
    world: ServiceWorld | None = None,
) -> tuple[ServicePlanner, list[ServiceVisit]]:
    """The planner as the period starts, and the visits before it; ``world`` (default: the
    catalog's world exactly) prices the visits and holds the vehicle's wear. Owners respond to
    reminders (``owners.response``) for services due from ``start`` on."""
    planner = ServicePlanner(
        vehicle=vehicle,
        owner=owner,
        schedule=catalog.service[vehicle.powertrain],
        owners=owners,
        world=world if world is not None else neutral_world(vehicle, catalog),
        last_date=vehicle.delivery_date,
        last_odometer_m=vehicle.delivery_odometer_m,
    )
    if owners.response.booking_uplift > 0:
        # A child of ``rng``'s seed: its draws never shift ``rng``'s own.
        planner.respond_rng, planner.respond_from = rng.spawn(1)[0], start
    planner.begin_cycle(rng)
    age_days = max(1, (start - vehicle.delivery_date).days)
    per_day_m = (vehicle.odometer_start_m - vehicle.delivery_odometer_m) / age_days

    def odometer_on(day: date) -> int:
        elapsed = (day - vehicle.delivery_date).days
        return round(vehicle.delivery_odometer_m + per_day_m * elapsed)

    history: list[ServiceVisit] = []
    while True:
        if per_day_m > 0:
            remaining_m = planner.last_odometer_m + planner.schedule.interval_km * 1000
            days_to_limit = math.ceil((remaining_m - odometer_on(planner.last_date)) / per_day_m)
            reached = planner.last_date + timedelta(days=max(1, days_to_limit))
            if reached < start:
                planner.observe(reached, round(remaining_m))
        if planner.planned >= start:
            return planner, history
        history.append(planner.visit(rng, planner.planned, odometer_on(planner.planned), ()))

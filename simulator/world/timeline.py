"""One vehicle's simulated life over the period (pure): readings, events and true odometer.

Day by day: intermittent codes clear themselves, an EV may charge overnight, the parked report is
taken, a due service happens (it repairs every active code), the trips are driven (the first one
may raise codes, scaled by the day's distance), and a trade-in ends the driving. What the device
intends to send (:class:`Intent`) is returned before any network or device fault is applied,
with where the vehicle's life stands at the end (:class:`Continuation`), to live on from after
the period (:mod:`simulator.world.horizon`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from reference.catalog import Catalog
from simulator.scenario.people import DiagnosticsSection, OwnersSection
from simulator.scenario.profiles import Profile
from simulator.world.diagnostics import CodeProcess, repair_all, self_clear
from simulator.world.events import Event, TradeIn
from simulator.world.fleet import Vehicle
from simulator.world.invoices import ServiceWorld
from simulator.world.messages import (
    BATCH_DELAY_MS,
    LIVE_LATENCY_MS,
    Reading,
    SimSample,
    chunks,
)
from simulator.world.owners import Owner
from simulator.world.service import ServicePlanner, service_ms, start_planner
from simulator.world.state import (
    VehicleState,
    battery_v,
    drive,
    energy_use_pct,
    initial_state,
    overnight,
    refill_if_needed,
)
from simulator.world.usage import DAY_MS, HOUR_MS, Day, Trip, day_start_ms
from simulator.world.wear import Part

DEPARTURE_SPEED_KMH = (0.0, 15.0)
CRUISE_SPEED_FACTOR = (0.8, 1.5)
MAX_SPEED_KMH = 175.0


@dataclass(frozen=True, slots=True)
class Intent:
    """A message the device means to send at ``send_ms``."""

    send_ms: int
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a vehicle stands as the period ends (a copy: living on does not change it)."""

    odometer_m: int
    active_dtcs: tuple[str, ...]
    last_service_date: date
    last_service_odometer_m: int
    service_due_date: date
    service_due_by: str
    service_due_odometer_m: int
    service_planned: date
    next_service_where: str
    wear: tuple[Part, ...]
    traded: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "odometer_m": self.odometer_m,
            "active_dtcs": list(self.active_dtcs),
            "traded_in": self.traded,
            "service": {
                "last_date": self.last_service_date.isoformat(),
                "last_odometer_m": self.last_service_odometer_m,
                "due_date": self.service_due_date.isoformat(),
                "due_by": self.service_due_by,
                "due_odometer_m": self.service_due_odometer_m,
                "planned_date": self.service_planned.isoformat(),
                "next_where": self.next_service_where,
            },
            "wear": [p.as_json() for p in self.wear],
        }


@dataclass(slots=True)
class Continuation:
    """A vehicle's life as the period ends: readings, codes, service cycle, traded in or not."""

    state: VehicleState
    codes: CodeProcess
    planner: ServicePlanner
    traded: bool

    def standing(self) -> Standing:
        planner = self.planner
        limit_m = planner.last_odometer_m + round(planner.schedule.interval_km * 1000)
        return Standing(
            odometer_m=self.state.odometer_m,
            active_dtcs=self.state.dtcs,
            last_service_date=planner.last_date,
            last_service_odometer_m=planner.last_odometer_m,
            service_due_date=planner.due_date,
            service_due_by=planner.due_by,
            service_due_odometer_m=limit_m,
            service_planned=planner.planned,
            next_service_where=planner.where(),
            wear=tuple(replace(p) for p in planner.world.wear.parts),
            traded=self.traded,
        )


@dataclass(frozen=True, slots=True)
class History:
    """``trajectory_m[i]``: true odometer at the end of day ``i`` of the period."""

    intents: tuple[Intent, ...]
    events: tuple[Event, ...]
    trajectory_m: tuple[int, ...]
    continuation: Continuation | None = None


def live(
    rng: np.random.Generator,
    vehicle: Vehicle,
    owner: Owner,
    profile: Profile,
    first_day: date,
    days: list[Day],
    catalog: Catalog,
    diagnostics: DiagnosticsSection,
    owners: OwnersSection,
    max_samples: int,
    world: ServiceWorld | None = None,
) -> History:
    """Simulate ``vehicle`` over ``days``, the period starting on ``first_day``; see the module
    docstring. ``world`` prices its services (default: the catalog's prices exactly)."""
    vin, spec = vehicle.vin, vehicle.spec
    state = initial_state(rng, vehicle)
    codes = CodeProcess(catalog, spec, diagnostics)
    planner, services = start_planner(rng, vehicle, owner, catalog, owners, first_day, world)
    events: list[Event] = list(services)
    intents: list[Intent] = []
    trajectory: list[int] = []
    traded_ms = owner.trade_in_ms
    traded = False
    last_send = 0

    def send(at_ms: int, readings: tuple[Reading, ...]) -> None:
        """Queue a message; the device sends its queue in order."""
        nonlocal last_send
        last_send = max(at_ms, last_send + 1)
        intents.append(Intent(last_send, readings))

    for day in days:
        ordinal = day.day.toordinal()
        midnight = day_start_ms(day.day)
        events += self_clear(state.active_dtcs, ordinal, vin, midnight, state.odometer_m)
        overnight(rng, spec, state)
        if day.heartbeat_ms is not None:
            parked = _sample(rng, vehicle, state, day.heartbeat_ms, 0.0, driving=False)
            send(day.heartbeat_ms + _latency(rng), (Reading.true(parked),))
        if not traded and planner.planned <= day.day:
            at = service_ms(day.day)
            events += repair_all(state.active_dtcs, vin, at, state.odometer_m)
            repairs = codes.specs(sorted(c for c, u in state.active_dtcs.items() if u is None))
            state.active_dtcs.clear()
            events.append(planner.visit(rng, day.day, state.odometer_m, repairs))
        trips = [t for t in day.trips if traded_ms is None or t.start_ms < traded_ms]
        if trips:
            km = sum(t.distance_m for t in trips) / 1000.0
            active = state.active_dtcs
            events += codes.raise_codes(
                rng, active, km, ordinal, vin, trips[0].start_ms, state.odometer_m
            )
        for trip in trips:
            samples = _trip_samples(rng, vehicle, state, trip, profile.sample_interval_s)
            readings = tuple(Reading.true(s) for s in samples)
            if rng.random() < profile.batch_probability:
                at = trip.end_ms + int(rng.integers(*BATCH_DELAY_MS))
                size = min(profile.batch_max_samples, max_samples)
                for batch in chunks(readings, size):
                    send(at, batch)
            else:
                for r in readings:
                    send(r.sample.ts_ms + _latency(rng), (r,))
        if traded_ms is not None and not traded and traded_ms < midnight + DAY_MS:
            events.append(TradeIn(vin, traded_ms, state.odometer_m, vehicle.dealer_id))
            traded = True
        if not traded:
            planner.observe(day.day, state.odometer_m)
        trajectory.append(state.odometer_m)
    events.sort(key=lambda e: e.ts_ms)
    where = Continuation(state, codes, planner, traded)
    return History(tuple(intents), tuple(events), tuple(trajectory), where)


def _latency(rng: np.random.Generator) -> int:
    return int(rng.integers(*LIVE_LATENCY_MS))


def _sample_times(trip: Trip, interval_s: int) -> list[int]:
    """Departure, every ``interval_s`` while driving (or the midpoint only), arrival."""
    if interval_s <= 0:
        return [trip.start_ms, (trip.start_ms + trip.end_ms) // 2, trip.end_ms]
    inner = list(range(trip.start_ms + interval_s * 1000, trip.end_ms, interval_s * 1000))
    return [trip.start_ms, *(inner or [(trip.start_ms + trip.end_ms) // 2]), trip.end_ms]


def _trip_samples(
    rng: np.random.Generator, vehicle: Vehicle, state: VehicleState, trip: Trip, interval_s: int
) -> list[SimSample]:
    spec = vehicle.spec
    use_pct = energy_use_pct(rng, spec, trip.distance_m / 1000.0)
    refill_if_needed(rng, spec, state, use_pct)
    times = _sample_times(trip, interval_s)
    departure_kmh = float(rng.uniform(*DEPARTURE_SPEED_KMH))
    samples = [_sample(rng, vehicle, state, trip.start_ms, departure_kmh, driving=True)]
    duration_ms = trip.end_ms - trip.start_ms
    hours = duration_ms / HOUR_MS
    driven_m, done = 0, 0.0
    for ts in times[1:]:
        fraction = (ts - trip.start_ms) / duration_ms
        target_m = round(trip.distance_m * fraction)
        step = fraction - done
        drive(state, spec, target_m - driven_m, hours * step, use_pct * step)
        driven_m, done = target_m, fraction
        cruise = trip.mean_speed_kmh * float(rng.uniform(*CRUISE_SPEED_FACTOR))
        speed = 0.0 if ts == trip.end_ms else min(cruise, MAX_SPEED_KMH)
        samples.append(_sample(rng, vehicle, state, ts, speed, driving=True))
    return samples


def _sample(
    rng: np.random.Generator,
    vehicle: Vehicle,
    state: VehicleState,
    ts_ms: int,
    speed_kmh: float,
    *,
    driving: bool,
) -> SimSample:
    ev = vehicle.powertrain == "ev"
    energy = round(state.energy_pct, 1)
    return SimSample(
        ts_ms=ts_ms,
        odometer_m=state.odometer_m,
        speed_kmh=round(speed_kmh, 1),
        battery_12v_v=battery_v(rng, vehicle, driving),
        fuel_level_pct=None if ev else energy,
        soc_pct=energy if ev else None,
        engine_hours_h=None if ev else round(state.engine_hours_h, 2),
        dtcs=tuple(sorted(state.active_dtcs)),
    )

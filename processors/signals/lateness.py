"""When the owner will most likely bring the vehicle in: the due point plus their own lateness
(pure).

Owners rarely come on the day a service falls due, and each keeps their habit: some come within
days, some months late. Every full service at a dealer says how late this owner came: the days
from the point the service fell due (:func:`lateness_days`: the last known service plus the
interval's months, or the day the odometer passed the interval's distance, placed by the pace
driven between the two visits; whichever first) to the visit; negative when early. The
vehicle's memory keeps the last :data:`LATENESS_KEPT`.

The next visit's day is uncertain: :func:`likely_visits` gives a few weighted scenarios of it,
each observed lateness of this owner with weight 1 and the points of :data:`PRIOR_LATENESS_DAYS`
sharing the weight of :data:`PRIOR_VISITS` visit between them, scenarios within
:data:`MERGE_DAYS` of each other merged at their weighted mean. Without history the prior alone
speaks; after three visits it has a quarter of the weight. The scenarios' weighted median is the
most likely visit (a median shrunk toward the prior: one odd visit moves it little), and their
spread is what the chance of each part's replacement is averaged over (:mod:`.bill`). A visit
already due is never placed before today: an owner later than their habit comes from today on.

A visit that comes more than a whole interval after its due point would have let another service
fall due before it: most likely that one was done elsewhere, unreported, so such a visit says
nothing about lateness and is not kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from database.vehicle_facts import VehicleFacts
from processors.signals.dates import add_months, ms_to_datetime
from processors.signals.service import ServiceDue
from processors.signals.upkeep import Upkeep
from reference.catalog import Catalog

LATENESS_KEPT = 4
"""Lateness of the last visits kept per vehicle (days; recent habits count, old ones fade)."""
PRIOR_LATENESS_DAYS = (0, 7, 14, 30, 60)
"""What an owner with no dealer history does, as equally likely lateness (days after the due
point): about half come within two weeks, a fifth a month or more late. Assumption."""
PRIOR_VISITS = 1.0
"""The prior's weight, in visits of the owner's own."""
MERGE_DAYS = 14
"""Scenarios this close are one (at their weighted mean): two weeks move a part's wear little."""


def lateness_days(
    since: date,
    since_km: float,
    interval_months: int,
    interval_km: float | None,
    day: date,
    at_km: float,
) -> int | None:
    """Days from the due point of the service after (``since``, ``since_km``) to a service on
    ``day`` at ``at_km`` (negative: early); None when the visit came more than a whole interval
    after that point (another service would have fallen due: see the module docstring)."""
    elapsed = (day - since).days
    if elapsed <= 0:
        return None
    twice = interval_km is not None and at_km - since_km >= 2 * interval_km
    if twice or day >= add_months(since, 2 * interval_months):
        return None
    due = add_months(since, interval_months)
    if interval_km is not None and at_km - since_km >= interval_km:
        pace = (at_km - since_km) / elapsed
        due = min(due, since + timedelta(days=int(interval_km / pace)))
    return (day - due).days


def observed_lateness(
    history: tuple[int, ...],
    vehicle: VehicleFacts,
    catalog: Catalog,
    upkeep: Upkeep,
    day: date,
    at_km: float,
) -> tuple[int, ...]:
    """``history`` after a full service on ``day`` at ``at_km`` (``upkeep``: before it), the
    last :data:`LATENESS_KEPT`."""
    schedule = catalog.service.get(vehicle.powertrain)
    if schedule is None:
        return history
    last = upkeep.last_service
    since = vehicle.delivery_date if last is None else ms_to_datetime(last.ts_ms).date()
    since_km = (vehicle.delivery_odometer_m if last is None else last.odometer_m) / 1000.0
    late = lateness_days(
        since, since_km, schedule.interval_months, schedule.interval_km, day, at_km
    )
    return history if late is None else (*history, late)[-LATENESS_KEPT:]


@dataclass(slots=True, init=False)
class VisitScenarios:
    """Where the next visit may happen: days, odometers (km) and weights summing to 1, in day
    order; ``likely`` is the index of the weighted median."""

    due_day: date
    """When the service falls (or fell) due."""
    days: tuple[date, ...]
    ordinals: tuple[int, ...]
    """:attr:`days` as proleptic ordinals."""
    kms: tuple[float, ...]
    weights: tuple[float, ...]
    likely: int
    lateness: int
    """The owner's likely lateness: days from the due point to the most likely visit, before
    a visit already due is moved to today."""
    observed: int
    """How many visits of the owner's own the scenarios rest on."""

    def __init__(
        self,
        due_day: date,
        days: tuple[date, ...],
        ordinals: tuple[int, ...],
        kms: tuple[float, ...],
        weights: tuple[float, ...],
        likely: int,
        lateness: int,
        observed: int,
    ) -> None:
        self.due_day = due_day
        self.days = days
        self.ordinals = ordinals
        self.kms = kms
        self.weights = weights
        self.likely = likely
        self.lateness = lateness
        self.observed = observed


def lateness_scenarios(history: tuple[int, ...]) -> tuple[tuple[int, float], ...]:
    """``(lateness_days, weight)`` of each scenario, sorted, weights summing to 1."""
    total = len(history) + PRIOR_VISITS
    prior = PRIOR_VISITS / len(PRIOR_LATENESS_DAYS) / total
    merged: dict[int, float] = {}
    for late in history:
        merged[late] = merged.get(late, 0.0) + 1.0 / total
    for late in PRIOR_LATENESS_DAYS:
        merged[late] = merged.get(late, 0.0) + prior
    return tuple(sorted(merged.items()))


def weighted_median_index(weights: tuple[float, ...] | list[float]) -> int:
    """Index of the first point where the cumulated weight reaches half."""
    half, acc = sum(weights) / 2.0, 0.0
    for i, w in enumerate(weights):
        acc += w
        if acc >= half - 1e-12:
            return i
    return len(weights) - 1


def likely_visits(
    due_day: date,
    due_km: float,
    today: date,
    odometer_km: float,
    km_per_day: float,
    history: tuple[int, ...],
) -> VisitScenarios:
    """The next visit's scenarios: the due point (``due_day`` at ``due_km``) plus each lateness
    scenario, never before ``today`` (an owner already late comes from today on) nor below
    ``odometer_km``; the odometer moves on at ``km_per_day``."""
    # [first ordinal, weight, weighted ordinal, weighted km, weighted lateness]
    clusters: list[list[float]] = []
    scenarios = lateness_scenarios(history)
    due, first = due_day.toordinal(), today.toordinal()
    for late, weight in scenarios:
        n = max(due + late, first)
        km = max(due_km + km_per_day * (n - due), odometer_km)
        if clusters and n - clusters[-1][0] <= MERGE_DAYS:
            c = clusters[-1]
            c[1] += weight
            c[2] += weight * n
            c[3] += weight * km
            c[4] += weight * late
        else:
            clusters.append([n, weight, weight * n, weight * km, weight * late])
    ordinals = [round(c[2] / c[1]) for c in clusters]
    kms = [c[3] / c[1] for c in clusters]
    weights = [c[1] for c in clusters]
    likely = weighted_median_index(weights)
    return VisitScenarios(
        due_day,
        tuple(date.fromordinal(n) for n in ordinals),
        tuple(ordinals),
        tuple(kms),
        tuple(weights),
        likely,
        round(clusters[likely][4] / clusters[likely][1]),
        len(history),
    )


def next_visit(
    due: ServiceDue,
    at_km: float,
    odometer_km: float,
    odometer_at: datetime,
    as_of: datetime,
    km_per_day: float,
    history: tuple[int, ...],
) -> VisitScenarios:
    """:func:`likely_visits` of the service ``due`` describes (``at_km``: the odometer forecast
    at its P50 date). An overdue service fell due at the earlier of its time bound and the day
    the odometer passed its distance (placed back from the reading at ``km_per_day``)."""
    today = as_of.date()
    if not due.overdue:
        return likely_visits(due.p50.date(), at_km, today, odometer_km, km_per_day, history)
    day = due.due_date.date()
    if due.due_odometer_km is not None and odometer_km >= due.due_odometer_km and km_per_day > 0:
        back = (odometer_km - due.due_odometer_km) / km_per_day
        day = min(day, (odometer_at - timedelta(days=back)).date())
    # the odometer on ``day`` on the line through the reading, so that it reads on from there
    km = odometer_km - km_per_day * (odometer_at.date() - day).days
    return likely_visits(day, km, today, odometer_km, km_per_day, history)

"""The predicted bill of a vehicle's next service, line by line (pure).

The bill is what the owner will most likely pay at the visit, not at the due point: owners come
when their habit says (:mod:`processors.signals.lateness`), and a later visit finds more parts
worn. The invoice may have:

* the scheduled service (always);
* each wear item a garage would replace at the visit: one whose real life ends before the
  *following* service (one interval later at the vehicle's pace, whichever of its months or
  distance comes first), counted from its last replacement at a visit or from delivery. The
  real life is the catalog's times this vehicle's own factor for the part, known only as a
  bracket (:mod:`processors.signals.wearlife`, learnt by :func:`learn_from_visit`); the chance
  the part is replaced is the chance the factor is at most the share of its catalog life it
  will have used by then (:meth:`~processors.signals.wearlife.Bracket.chance`), averaged over
  the visit's scenarios (:func:`wear_chance`);
* the repair of each active catalogued code (a code the catalog does not price adds no line).

The parts' factors are independent, so the invoice's distribution is every set of the parts
whose chance is neither about 0 nor about 1 (within :data:`SURE`), with its probability
(:func:`bill_distribution`). The bill shown is the set whose total has the least expected
error against the invoice, each error counted relative to the invoice and capped at
:data:`TOLERANCE` (:func:`best_total`): among the totals at least :data:`PLAUSIBLE` as likely as
the likeliest, the one most often within the tolerance and closest inside it. (The median of
the totals weighted by probability / total would minimise the expected percentage error itself,
but there an unbounded error on a rare dear case outweighs being right on the common one: it
leaves out every expensive part below about 70 % likely, and the median error over a fleet
grows; docs/signals.md.) Each wear line's reason gives its chance, and the scheduled line's the
parts left out that are at least :data:`MENTION_CHANCE` likely. Low and high are the
:data:`LOW_Q` and :data:`HIGH_Q` quantiles of the distribution, each total spread by
:data:`PRICE_SIGMA` for the prices.

Lines are priced at the most likely visit: the dealer's prices (the catalog's times its level
learnt from past invoices, :mod:`processors.signals.calibration`), 0 for a line whose coverage
is in force on that day and odometer. An unrelated small repair a visit turns up, or a code
raised after today, cannot be foreseen and is left out: an allowance for them, at the share of
the vehicle's past invoices that had one, did not lower the error on the fleets measured.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np

from database.vehicle_facts import VehicleFacts
from processors.signals.dates import MS_PER_DAY, ms_to_datetime
from processors.signals.lateness import VisitScenarios
from processors.signals.pricing import Pricing, in_force
from processors.signals.upkeep import Upkeep
from processors.signals.views import Bill, BillLine, cents
from processors.signals.wearlife import DAYS_PER_MONTH, Bracket, used_share
from reference.catalog import (
    COVERAGES,
    Catalog,
    PriceRange,
    ServiceSpec,
    WarrantySpec,
    WearItem,
)

SCHEDULED = "Scheduled service"
SURE = 0.02
"""A part this close to 0 or 1 likely is left out of the bill, or put in it, for sure."""
TOLERANCE = 0.15
"""An error beyond this share of the invoice counts as a miss, whatever its size: the issue's
target for the median error, so the bill is as often as it can be near enough to be useful."""
PLAUSIBLE = 0.02
"""The bill is chosen among totals at least this likely relative to the likeliest one: its lines
must be a set of parts that can plausibly come together."""
CANDIDATES = 16
"""At most this many of the likeliest totals are weighed."""
PRUNE = 1e-4
"""A set of parts less likely than this is not followed further (what it drops is negligible)."""
PRICE_SIGMA = 0.10
"""Spread of an invoice's total around the dealer's price of its lines (sd of its log: the
line-to-line noise of invoices and what the dealer's level has not yet shown). Assumption."""
LOW_Q, HIGH_Q = 0.1, 0.9
MENTION_CHANCE = 0.25
_NORMAL = NormalDist()
_NO_BRACKET = Bracket()
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def ahead(interval_km: float, interval_months: int, km_per_day: float) -> tuple[float, float]:
    """``(km, days)`` from one service to the next at ``km_per_day``: the interval's months or
    its distance, whichever comes first."""
    days = interval_months * DAYS_PER_MONTH
    if km_per_day * days <= interval_km:
        return km_per_day * days, days
    return interval_km, interval_km / km_per_day


def replaced_last(vehicle: VehicleFacts, upkeep: Upkeep, item: str) -> tuple[date, float]:
    """(date, km) of an item's last replacement at a visit, else of the delivery."""
    record = upkeep.wear_replaced.get(item)
    if record is None:
        return vehicle.delivery_date, vehicle.delivery_odometer_m / 1000.0
    return ms_to_datetime(record[0]).date(), record[1] / 1000.0


def wear_chance(
    item: WearItem,
    vehicle: VehicleFacts,
    upkeep: Upkeep,
    visits: VisitScenarios,
    ahead_km: float,
    ahead_days: float,
) -> float:
    """The chance a garage replaces the item at the visit: in each scenario, the part is judged
    by the following service ``ahead_km`` / ``ahead_days`` later; weighted over scenarios."""
    record = upkeep.wear_replaced.get(item.item)
    if record is None:
        since, since_km = vehicle.delivery_date.toordinal(), vehicle.delivery_odometer_m / 1000.0
    else:
        since, since_km = _EPOCH_DAY + record[0] // MS_PER_DAY, record[1] / 1000.0
    life_km = item.life_km_for(vehicle.powertrain)
    life_days = None if item.life_months is None else item.life_months * DAYS_PER_MONTH
    bracket = upkeep.wear_life.get(item.item, _NO_BRACKET)
    start = since - int(ahead_days)
    used = []
    for day, km in zip(visits.ordinals, visits.kms, strict=True):
        share = (km + ahead_km - since_km) / life_km if life_km else 0.0
        used.append(max(share, (day - start) / life_days) if life_days else share)
    # the scenarios are in time order: the shares only grow
    if used[-1] <= bracket.low:
        return 0.0
    if used[0] >= bracket.high:
        return 1.0
    chance = 0.0
    for weight, share in zip(visits.weights, used, strict=True):
        chance += weight * bracket.chance(share)
    return min(max(chance, 0.0), 1.0)


def bill_distribution(
    base: float, amounts: Sequence[float], chances: Sequence[float]
) -> list[tuple[float, float, int]]:
    """``(total, probability, subset)`` of every set of the uncertain lines at least
    :data:`PRUNE` likely (bit ``i`` of ``subset``: line ``i`` is in it), ``base`` the total of
    the certain ones; the lines are independent."""
    atoms = [(base, 1.0, 0)]
    for i, (amount, p) in enumerate(zip(amounts, chances, strict=True)):
        grown = []
        for total, mass, subset in atoms:
            if mass * p >= PRUNE:
                grown.append((total + amount, mass * p, subset | 1 << i))
            if mass * (1.0 - p) >= PRUNE:
                grown.append((total, mass * (1.0 - p), subset))
        atoms = grown
    return atoms


def by_total(atoms: Sequence[tuple[float, float, int]]) -> tuple[list[float], list[float]]:
    """The distinct totals (to the cent, ascending) and the probability of each."""
    mass: dict[float, float] = {}
    for total, weight, _ in atoms:
        key = round(total, 2)
        mass[key] = mass.get(key, 0.0) + weight
    totals = sorted(mass)
    return totals, [mass[t] for t in totals]


def _capped_error_table() -> tuple[list[float], list[float]]:
    """``E[min(|r / X - 1|, TOLERANCE)]`` for the ratio ``r`` of a bill to an invoice's
    dealer price, ``X`` the invoice's price factor (lognormal, :data:`PRICE_SIGMA`), on a grid
    of ``log r`` (beyond it the error is the cap)."""
    log_r = np.linspace(-0.6, 0.6, 241)
    z = np.array([_NORMAL.inv_cdf((i + 0.5) / 64) for i in range(64)])
    error = np.abs(np.exp(log_r[:, None] - PRICE_SIGMA * z[None, :]) - 1.0)
    return log_r.tolist(), np.minimum(error, TOLERANCE).mean(axis=1).tolist()


_LOG_R, _CAPPED = _capped_error_table()


def capped_error(log_r: float) -> float:
    """The table's expected capped error at ``log_r``, linearly interpolated as
    :func:`numpy.interp` does (:data:`TOLERANCE` outside the grid)."""
    xs, ys = _LOG_R, _CAPPED
    last = len(xs) - 1
    if not xs[0] <= log_r <= xs[last]:
        return TOLERANCE
    j = bisect_right(xs, log_r) - 1
    if j >= last or log_r == xs[j]:
        return ys[j]
    return (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]) * (log_r - xs[j]) + ys[j]


def best_total(totals: Sequence[float], mass: Sequence[float]) -> float:
    """The total with the least expected capped relative error against the invoice (see the
    module docstring). Scalar loops over a few totals (four in a typical bill, at most
    :data:`CANDIDATES` weighed): numpy's per-call overhead on arrays this small cost several
    times the arithmetic (tests/unit/processors/signals/test_signals_bill.py checks it against
    the array form)."""
    n = len(totals)
    if n == 1:
        return totals[0]
    t = [max(x, 0.01) for x in totals]
    order = sorted(range(n), key=mass.__getitem__, reverse=True)[:CANDIDATES]
    floor = PLAUSIBLE * mass[order[0]]
    best, least = order[0], math.inf
    for i in order:
        if mass[i] < floor:
            break  # in order of mass: the rest are less likely still
        error = 0.0
        for j in range(n):
            error += capped_error(math.log(t[i] / t[j])) * mass[j]
        if error < least:
            best, least = i, error
    return totals[best]


def quantiles(totals: Sequence[float], mass: Sequence[float], qs: Sequence[float]) -> list[float]:
    """The ``qs`` quantiles of the totals (ascending, with their probabilities), each widened by
    the same quantile of the price spread (:data:`PRICE_SIGMA`): exact for a single total, a
    little wider than the mixture's for several."""
    whole = sum(mass)
    out = []
    for q in qs:
        acc, i = 0.0, 0
        while i < len(totals) - 1 and acc + mass[i] < q * whole - 1e-12:
            acc += mass[i]
            i += 1
        out.append(totals[i] * math.exp(PRICE_SIGMA * _NORMAL.inv_cdf(q)))
    return out


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


def paying_at(terms: WarrantySpec, delivered: date, day: date, at_km: float) -> frozenset[str]:
    """The coverages in force on ``day`` at ``at_km`` (asked once a bill: every line asks, and
    each asking of the terms cost a dictionary and a date's arithmetic)."""
    return frozenset(name for name in COVERAGES if in_force(terms, name, delivered, day, at_km))


@dataclass(slots=True, init=False)
class _Lines:
    """Prices lines at the most likely visit (``day``, ``at_km``)."""

    vehicle: VehicleFacts
    pricing: Pricing
    day: date
    at_km: float
    paying: frozenset[str]
    """The coverages in force at the visit (:func:`paying_at`)."""

    def __init__(
        self,
        vehicle: VehicleFacts,
        pricing: Pricing,
        day: date,
        at_km: float,
        paying: frozenset[str],
    ) -> None:
        self.vehicle = vehicle
        self.pricing = pricing
        self.day = day
        self.at_km = at_km
        self.paying = paying

    def line(
        self,
        kind: str,
        code: str | None,
        description: str,
        usd: PriceRange,
        coverage: str,
        reason: str,
    ) -> BillLine:
        if coverage in self.paying:
            reason = f"{reason}; covered by the {coverage.replace('_', ' ')} warranty"
            return BillLine(kind, code, description, 0.0, 0.0, 0.0, True, coverage, reason)
        low, expected, high = self.pricing.amounts(usd)
        return BillLine(kind, code, description, low, expected, high, False, coverage, reason)

    def amount(self, usd: PriceRange, coverage: str) -> float:
        """What the owner pays for a line (0: a warranty pays it): the expected amount of
        :meth:`line`."""
        if coverage in self.paying:
            return 0.0
        return self.pricing.amounts(usd)[1]

    def wear(
        self, item: WearItem, upkeep: Upkeep, chance: float, by_day: date, by_km: float
    ) -> BillLine:
        """The item's line; its reason says when its life ends at this car's factor for it (by
        the limit that binds first by the following service, on ``by_day`` at ``by_km``) and,
        unless sure, how likely the part is to be replaced at the visit."""
        since, since_km = replaced_last(self.vehicle, upkeep, item.item)
        factor = upkeep.wear_factors.get(item.item, 1.0)
        own = "" if factor == 1.0 else f" (this car's parts last {factor:.0%} of the usual)"
        life_km = item.life_km_for(self.vehicle.powertrain)
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
        if chance < 1.0 - SURE:
            why = f"{why}; {chance:.0%} likely to be replaced at the visit"
        return self.line("wear", item.item, item.description, item.price, item.coverage, why)


def _weight(atom: tuple[float, float, int]) -> float:
    return atom[1]


def prices_reason(upkeep: Upkeep) -> str:
    """Whose prices the bill is at: the catalog's, or the dealer's as learnt from invoices."""
    lines = upkeep.price_lines
    if lines <= 0:
        return "at the catalog's prices (no invoice from this dealer yet)"
    whose = "its customers'" if upkeep.price_pooled else "this car's"
    pct = (upkeep.price_factor - 1.0) * 100.0
    if abs(pct) < 0.5:
        level = "level with the catalog's"
    else:
        level = f"{abs(pct):.0f} % {'above' if pct > 0 else 'below'} the catalog's"
    return f"at this dealer's prices, {level} (from {lines:,} lines of {whose} invoices)"


def _scheduled_reason(
    schedule: ServiceSpec, visits: VisitScenarios, left_out: str, prices: str
) -> str:
    day, km = visits.days[visits.likely], visits.kms[visits.likely]
    late, seen = visits.lateness, visits.observed
    if seen == 0:
        habit = "as owners usually do"
    elif seen == 1:
        habit = "between this owner's last visit and what owners usually do"
    else:
        habit = f"as at this owner's last {seen} visits"
    usual = f"{late} days after it falls due" if late >= 0 else f"{-late} days before it"
    if (day - visits.due_day).days > late:
        when = f"already later than usual ({usual}, {habit}): visit expected from {day}"
    else:
        when = f"visit expected about {day} ({usual}, {habit})"
    more = f"; may also need: {left_out}" if left_out else ""
    return (
        f"{SCHEDULED} (every {schedule.interval_km:,.0f} km or {schedule.interval_months} "
        f"months) due about {visits.due_day.isoformat()}; {when} at about {km:,.0f} km{more}; "
        f"{prices}"
    )


def service_bill(
    vehicle: VehicleFacts,
    catalog: Catalog,
    pricing: Pricing,
    schedule: ServiceSpec,
    upkeep: Upkeep,
    visits: VisitScenarios,
    km_per_day: float,
) -> Bill:
    """The bill of the next service at the visit ``visits`` describes (see the module
    docstring)."""
    terms = catalog.warranty_for(vehicle.brand)
    day, at_km = visits.days[visits.likely], visits.kms[visits.likely]
    paying = paying_at(terms, vehicle.delivery_date, day, at_km)
    lines = _Lines(vehicle, pricing, day, at_km, paying)
    ahead_km, ahead_days = ahead(schedule.interval_km, schedule.interval_months, km_per_day)
    wear: list[WearItem] = []
    chances: list[float] = []
    amounts: list[float] = []
    for item in catalog.wear_for(vehicle.powertrain):
        chance = wear_chance(item, vehicle, upkeep, visits, ahead_km, ahead_days)
        if chance > SURE:
            wear.append(item)
            chances.append(chance)
            amounts.append(lines.amount(item.price, item.coverage))
    repairs = []
    for code in upkeep.active_faults:
        fault = catalog.fault(code)
        if fault is not None:
            why = f"code {code} active: {fault.description}"
            repairs.append(
                lines.line("repair", code, fault.repair, fault.cost, fault.coverage, why)
            )
    sure = [a for a, p in zip(amounts, chances, strict=True) if p >= 1.0 - SURE]
    maybe = [i for i, p in enumerate(chances) if p < 1.0 - SURE]
    scheduled = pricing.amounts(schedule.price)[1]
    base = scheduled + sum(sure) + sum(x.expected for x in repairs)
    atoms = bill_distribution(base, [amounts[i] for i in maybe], [chances[i] for i in maybe])
    totals, mass = by_total(atoms)
    best = best_total(totals, mass)
    subset = max((a for a in atoms if round(a[0], 2) == best), key=_weight)[2]
    dropped = {i for n, i in enumerate(maybe) if not subset >> n & 1}
    left_out = ", ".join(
        f"{wear[i].description} ({chances[i]:.0%})"
        for i in sorted(dropped, key=lambda i: -chances[i])
        if chances[i] >= MENTION_CHANCE
    )
    reason = _scheduled_reason(schedule, visits, left_out, prices_reason(upkeep))
    out = [lines.line("scheduled", None, SCHEDULED, schedule.price, "none", reason)]
    following = (lines.day + timedelta(days=int(ahead_days)), lines.at_km + ahead_km)
    out += [
        lines.wear(item, upkeep, chances[i], *following)
        for i, item in enumerate(wear)
        if i not in dropped
    ]
    out += repairs
    expected = sum(x.expected for x in out)
    low, high = quantiles(totals, mass, (LOW_Q, HIGH_Q))
    return Bill(
        pricing.currency,
        cents(min(low, expected)),
        cents(expected),
        cents(max(high, expected)),
        tuple(out),
    )

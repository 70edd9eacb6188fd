"""Who owns each vehicle: service habits, trade-in, finance contract and consent (pure).

Finance follows standard annuity amortisation; a PCP contract is a loan whose last payment is a
balloon (the guaranteed future value), so its monthly payments only amortise the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from simulator.scenario.people import ConsentSection, FinanceSection, OwnersSection
from simulator.world.events import ConsentChange
from simulator.world.fleet import Vehicle
from simulator.world.usage import DAY_MS, HOUR_MS

PURPOSES = ("service_reminders", "marketing_offers", "location")
DAYS_PER_YEAR = 365.25
# A trade-in happens at the dealer between 10:00 and 16:00 UTC.
TRADE_IN_HOURS = (10, 16)


@dataclass(frozen=True, slots=True)
class FinanceContract:
    """How the vehicle was paid for; ``kind`` is ``cash``, ``loan`` or ``pcp``."""

    kind: str
    start: date
    price_usd: float
    deposit_usd: float
    principal_usd: float
    apr_pct: float
    term_months: int
    balloon_usd: float
    monthly_payment_usd: float

    def balance_usd(self, on: date) -> float:
        """What is still owed on ``on`` (after the monthly payments due by then)."""
        if self.kind == "cash":
            return 0.0
        months = (on.year - self.start.year) * 12 + on.month - self.start.month
        months -= on.day < self.start.day
        if months >= self.term_months:
            return 0.0
        return round(balance(self.principal_usd, self.apr_pct, self.monthly_payment_usd, months), 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start_date": self.start.isoformat(),
            "price_usd": self.price_usd,
            "deposit_usd": self.deposit_usd,
            "principal_usd": self.principal_usd,
            "apr_pct": self.apr_pct,
            "term_months": self.term_months,
            "balloon_usd": self.balloon_usd,
            "monthly_payment_usd": self.monthly_payment_usd,
        }


@dataclass(frozen=True, slots=True)
class Owner:
    """An owner: ``service_behaviour`` is ``on_time``, ``late`` or ``lapsed`` (to an independent
    garage after ``lapse_after_services`` dealer visits); ``trade_in_ms`` when they trade in."""

    service_behaviour: str
    lapse_after_services: int | None
    trade_in_ms: int | None
    finance: FinanceContract
    consent: tuple[tuple[str, bool], ...]
    consent_changes: tuple[ConsentChange, ...]

    def consents(self, purpose: str, at_ms: int) -> bool:
        """Whether the owner consents to ``purpose`` at ``at_ms`` (initial consent, then every
        change up to then)."""
        granted = dict(self.consent).get(purpose, False)
        for change in self.consent_changes:
            if change.purpose == purpose and change.ts_ms <= at_ms:
                granted = change.granted
        return granted


def group_owners(rng: np.random.Generator, count: int, multi_share: float) -> tuple[str, ...]:
    """Who owns each of ``count`` vehicles (fleet order): an owner id per vehicle,
    ``OWN-00001`` onwards. Each new owner, with probability ``multi_share``, also owns the next
    one or two vehicles (2 or 3 in all, half each); the fleet's order is already random.
    ``rng`` is a stream of its own, so the grouping leaves every other draw as it was."""
    ids: list[str] = []
    while len(ids) < count:
        owner = f"OWN-{len(set(ids)) + 1:05d}"
        many = 1
        if rng.random() < multi_share:
            many = 2 if rng.random() < 0.5 else 3
        ids += [owner] * min(many, count - len(ids))
    return tuple(ids)


def monthly_payment(principal: float, apr_pct: float, term_months: int, balloon: float) -> float:
    """The annuity payment repaying ``principal`` over ``term_months``, ``balloon`` at the end."""
    r = apr_pct / 100.0 / 12.0
    if r == 0:
        return (principal - balloon) / term_months
    growth = (1.0 + r) ** term_months
    return (principal - balloon / growth) * r / (1.0 - 1.0 / growth)


def balance(principal: float, apr_pct: float, payment: float, months: int) -> float:
    """What is owed after ``months`` payments."""
    r = apr_pct / 100.0 / 12.0
    if r == 0:
        return principal - payment * months
    growth = (1.0 + r) ** months
    return principal * growth - payment * (growth - 1.0) / r


def generate_owner(
    rng: np.random.Generator,
    vehicle: Vehicle,
    owners: OwnersSection,
    finance: FinanceSection,
    consent: ConsentSection,
    start_ms: int,
    now_ms: int,
) -> Owner:
    behaviours = owners.service.shares()
    behaviour = _choose(rng, behaviours)
    lapse_after = None
    if behaviour == "lapsed":
        lo, hi = owners.lapse_after_services
        lapse_after = int(rng.integers(lo, hi + 1))
    days = (now_ms - start_ms) / DAY_MS
    trade_in_ms = None
    if rng.random() < 1.0 - math.exp(-owners.trade_in_per_year * days / DAYS_PER_YEAR):
        day_start = start_ms - start_ms % DAY_MS + int(rng.integers(0, max(1, int(days)))) * DAY_MS
        at = day_start + int(rng.integers(TRADE_IN_HOURS[0] * HOUR_MS, TRADE_IN_HOURS[1] * HOUR_MS))
        trade_in_ms = at if start_ms <= at < now_ms else None
    contract = _contract(rng, vehicle, finance)
    granted = {p: bool(rng.random() < consent.initial()[p]) for p in PURPOSES}
    initial = tuple(granted.items())
    changes = []
    count = int(rng.poisson(consent.changes_per_year * days / DAYS_PER_YEAR))
    for at in sorted(int(t) for t in rng.integers(start_ms, now_ms, size=count)):
        purpose = PURPOSES[int(rng.integers(0, len(PURPOSES)))]
        granted[purpose] = not granted[purpose]
        changes.append(ConsentChange(vehicle.vin, at, purpose, granted[purpose]))
    return Owner(behaviour, lapse_after, trade_in_ms, contract, initial, tuple(changes))


def _choose(rng: np.random.Generator, shares: dict[str, float]) -> str:
    names = list(shares)
    p = np.array([shares[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _contract(rng: np.random.Generator, vehicle: Vehicle, f: FinanceSection) -> FinanceContract:
    kind = _choose(rng, f.mix.shares())
    price = float(
        round(vehicle.spec.msrp_usd * (1.0 + float(rng.uniform(*f.price_premium_pct)) / 100))
    )
    start = vehicle.delivery_date
    if kind == "cash":
        return FinanceContract(kind, start, price, price, 0.0, 0.0, 0, 0.0, 0.0)
    deposit = float(round(price * float(rng.uniform(*f.deposit_pct)) / 100))
    principal = float(price - deposit)
    if kind == "loan":
        apr = round(float(rng.uniform(*f.loan_apr_pct)), 2)
        term = int(f.loan_term_months[int(rng.integers(0, len(f.loan_term_months)))])
        balloon = 0.0
    else:
        apr = round(float(rng.uniform(*f.pcp_apr_pct)), 2)
        term = int(f.pcp_term_months[int(rng.integers(0, len(f.pcp_term_months)))])
        balloon = float(round(price * float(rng.uniform(*f.pcp_balloon_pct)) / 100))
    payment = round(monthly_payment(principal, apr, term, balloon), 2)
    return FinanceContract(
        kind, start, price, float(deposit), principal, apr, term, balloon, payment
    )

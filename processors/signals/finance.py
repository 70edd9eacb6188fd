"""Finance payoff and equity: annuity amortisation, balloon (PCP) and lease contracts.

Rates are nominal annual rates compounded monthly (``r = apr / 12``), as US APRs are quoted.
Payment ``j`` falls ``j`` calendar months after the contract start. A balloon contract (PCP; a
lease is treated the same way with its residual as the balloon) amortises the principal minus the
balloon's present value, so after the last regular payment exactly the balloon is owed; it stays
owed until the contract is settled, which this math does not see. Between two payments the payoff
adds the interest accrued pro rata over the month.

Equity is value minus payoff; its range comes from the value's relative uncertainty (the payoff
is contractual). The date equity turns positive is searched month by month up to the term's end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt

from processors.signals.dates import add_months

Floats = npt.NDArray[np.float64]


@dataclass(slots=True, init=False)
class FinanceContract:
    """A loan, PCP or lease."""

    principal: float  # amount financed (lease: capitalised cost)
    apr: float  # nominal annual rate as a fraction (0.06 = 6 %)
    term_months: int
    start: date  # the first payment falls one month later
    balloon: float = 0.0  # PCP final payment or lease residual; 0 for a plain loan
    kind: Literal["loan", "pcp", "lease"] = "loan"

    def __init__(
        self,
        principal: float,
        apr: float,
        term_months: int,
        start: date,
        balloon: float = 0.0,
        kind: Literal["loan", "pcp", "lease"] = "loan",
    ) -> None:
        self.principal = principal
        self.apr = apr
        self.term_months = term_months
        self.start = start
        self.balloon = balloon
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Equity:
    """Value minus payoff, with the range implied by the value's uncertainty."""

    value: Floats
    value_low: Floats
    value_high: Floats
    payoff: Floats
    equity: Floats
    equity_low: Floats
    equity_high: Floats


def _f(x: npt.ArrayLike) -> Floats:
    return np.asarray(x, dtype=np.float64)


def monthly_payment(
    principal: npt.ArrayLike,
    apr: npt.ArrayLike,
    term_months: npt.ArrayLike,
    balloon: npt.ArrayLike = 0.0,
) -> Floats:
    """Level monthly payment that leaves exactly ``balloon`` owed after ``term_months``."""
    p, r, n, b = np.broadcast_arrays(_f(principal), _f(apr) / 12.0, _f(term_months), _f(balloon))
    log_growth = np.log1p(r)  # expm1/log1p keep tiny rates accurate
    disc = np.exp(-n * log_growth)
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = -np.expm1(-n * log_growth) / r  # sum of the n payments' discount factors
        payment: Floats = np.where(r == 0, (p - b) / n, (p - b * disc) / annuity)
    return payment


def balance_after(
    principal: npt.ArrayLike,
    apr: npt.ArrayLike,
    term_months: npt.ArrayLike,
    payments: npt.ArrayLike,
    balloon: npt.ArrayLike = 0.0,
) -> Floats:
    """Balance owed right after ``payments`` regular payments (clipped to 0..term)."""
    p, r, n, k, b = np.broadcast_arrays(
        _f(principal), _f(apr) / 12.0, _f(term_months), _f(payments), _f(balloon)
    )
    k = np.clip(k, 0.0, n)
    pay = monthly_payment(p, r * 12.0, n, b)
    growth_m1 = np.expm1(k * np.log1p(r))
    with np.errstate(divide="ignore", invalid="ignore"):
        balance: Floats = np.where(r == 0, p - pay * k, p * (1.0 + growth_m1) - pay * growth_m1 / r)
    return balance


def payments_made(contract: FinanceContract, on: date) -> int:
    """Regular payments due on or before ``on`` (0..term)."""
    months = (on.year - contract.start.year) * 12 + on.month - contract.start.month
    if add_months(contract.start, months) > on:
        months -= 1
    return min(max(months, 0), contract.term_months)


def payoff_schedule(contract: FinanceContract, dates: Sequence[date]) -> Floats:
    """Amount to settle the contract on each date: balance plus interest accrued since the last
    payment; the balloon alone once every regular payment is made."""
    k = np.array([payments_made(contract, d) for d in dates], dtype=np.float64)
    frac = np.array(
        [
            max((d - add_months(contract.start, int(j))).days, 0)
            / (add_months(contract.start, int(j) + 1) - add_months(contract.start, int(j))).days
            for d, j in zip(dates, k, strict=True)
        ],
        dtype=np.float64,
    )
    c = contract
    balance = balance_after(c.principal, c.apr, c.term_months, k, c.balloon)
    accrued = balance * (1.0 + c.apr / 12.0 * frac)
    return np.where(k >= c.term_months, c.balloon, accrued)


def payoff_on(contract: FinanceContract, on: date) -> float:
    """Amount to settle the contract on ``on``: :func:`payoff_schedule` of one date in scalar
    arithmetic (the same formulas; a vehicle is valued once per evaluation, where numpy's
    per-call overhead would cost more than the math)."""
    c = contract
    k = payments_made(c, on)
    if k >= c.term_months:
        return c.balloon
    paid_on = add_months(c.start, k)
    frac = max((on - paid_on).days, 0) / (add_months(c.start, k + 1) - paid_on).days
    r, n = c.apr / 12.0, c.term_months
    if r == 0:
        payment = (c.principal - c.balloon) / n
        balance = c.principal - payment * k
    else:
        log_growth = math.log1p(r)
        annuity = -math.expm1(-n * log_growth) / r
        payment = (c.principal - c.balloon * math.exp(-n * log_growth)) / annuity
        growth_m1 = math.expm1(k * log_growth)
        balance = c.principal * (1.0 + growth_m1) - payment * growth_m1 / r
    return balance * (1.0 + r * frac)


def equity(
    value: npt.ArrayLike, payoff: npt.ArrayLike, value_rel_uncertainty: float = 0.1
) -> Equity:
    """Equity = value - payoff, with value low/high = value x (1 -/+ relative uncertainty)."""
    if value_rel_uncertainty < 0:
        raise ValueError("value_rel_uncertainty must be >= 0")
    v, owed = np.broadcast_arrays(_f(value), _f(payoff))
    low, high = v * (1.0 - value_rel_uncertainty), v * (1.0 + value_rel_uncertainty)
    return Equity(v, low, high, owed, v - owed, low - owed, high - owed)


def equity_positive_date(
    contract: FinanceContract,
    value_at: Callable[[date], float],
    from_date: date,
    *,
    threshold: float = 0.0,
) -> date | None:
    """First date, stepping monthly from ``from_date`` to the term's end, where value - payoff
    exceeds ``threshold`` (0: positive; a deposit: enough to cover it). None if never."""
    end = add_months(contract.start, contract.term_months)
    dates: list[date] = []
    while not dates or (dates[-1] < end and add_months(from_date, len(dates)) <= end):
        dates.append(add_months(from_date, len(dates)))
    if dates[-1] < end:
        dates.append(end)
    owed = payoff_schedule(contract, dates)
    for day, payoff in zip(dates, owed.tolist(), strict=True):
        if value_at(day) - payoff > threshold:
            return day
    return None

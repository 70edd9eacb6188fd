"""Finance payoff and equity against hand-computed values."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.signals.dates import add_months
from processors.signals.finance import (
    FinanceContract,
    balance_after,
    equity,
    equity_positive_date,
    monthly_payment,
    payments_made,
    payoff_on,
    payoff_schedule,
)

LOAN = FinanceContract(20_000.0, 0.06, 48, date(2024, 1, 15))
PCP = FinanceContract(25_000.0, 0.07, 36, date(2024, 1, 15), balloon=10_000.0, kind="pcp")


def test_loan_payment_and_balance() -> None:
    # r = 0.5 %/month; 20,000 x 0.005 / (1 - 1.005^-48) = 469.70
    assert float(monthly_payment(20_000.0, 0.06, 48)) == pytest.approx(469.70, abs=0.005)
    # after 12 payments the balance is the value of the 36 left: 469.70 x a(36, 0.5 %) = 15,439.54
    assert float(balance_after(20_000.0, 0.06, 48, 12)) == pytest.approx(15_439.54, abs=0.01)
    assert float(balance_after(20_000.0, 0.06, 48, 48)) == pytest.approx(0.0, abs=1e-6)
    assert float(balance_after(20_000.0, 0.06, 48, 0)) == pytest.approx(20_000.0)


def test_pcp_amortises_principal_minus_discounted_balloon() -> None:
    # r = 7 %/12; v^36 = 0.81105; (25,000 - 10,000 v^36) r / (1 - v^36) = 521.49 a month
    pay = float(monthly_payment(25_000.0, 0.07, 36, 10_000.0))
    assert pay == pytest.approx(521.49, abs=0.005)
    r = 0.07 / 12
    assert pay * (1 - (1 + r) ** -36) / r + 10_000.0 * (1 + r) ** -36 == pytest.approx(25_000.0)
    # after 12 payments: 24 payments left plus the balloon, discounted = 20,344.65
    assert float(balance_after(25_000.0, 0.07, 36, 12, 10_000.0)) == pytest.approx(
        20_344.65, abs=0.01
    )
    assert float(balance_after(25_000.0, 0.07, 36, 36, 10_000.0)) == pytest.approx(10_000.0)
    assert payoff_on(PCP, date(2027, 1, 15)) == 10_000.0  # the balloon stays owed at the end
    assert payoff_on(PCP, date(2029, 1, 1)) == 10_000.0


def test_zero_rate_and_vectorised() -> None:
    assert float(monthly_payment(12_000.0, 0.0, 24)) == pytest.approx(500.0)
    assert float(balance_after(12_000.0, 0.0, 24, 6)) == pytest.approx(9_000.0)
    pays = monthly_payment([20_000.0, 12_000.0], [0.06, 0.0], [48, 24])
    assert pays == pytest.approx([469.70, 500.0], abs=0.005)
    owed = balance_after(20_000.0, 0.06, 48, np.arange(49))
    assert np.all(np.diff(owed) < 0) and owed[-1] == pytest.approx(0.0, abs=1e-6)


def test_payoff_on_a_date() -> None:
    assert payments_made(LOAN, date(2024, 2, 14)) == 0
    assert payments_made(LOAN, date(2024, 2, 15)) == 1
    assert payments_made(LOAN, date(2030, 1, 1)) == 48
    assert payoff_on(LOAN, date(2025, 1, 15)) == pytest.approx(15_439.54, abs=0.01)
    # halfway through a 31-day month (Jan 15 -> Feb 15): half a month's interest accrued
    mid = payoff_on(LOAN, date(2025, 1, 30))
    assert mid == pytest.approx(15_439.54 * (1 + 0.005 * 15 / 31), abs=0.01)
    assert payoff_on(LOAN, date(2023, 12, 1)) == pytest.approx(20_000.0)
    assert payoff_on(LOAN, date(2028, 1, 15)) == 0.0
    month_end = FinanceContract(10_000.0, 0.05, 12, date(2024, 1, 31))
    assert payments_made(month_end, date(2024, 2, 29)) == 1  # Jan 31 + 1 month = Feb 29


def test_equity_range() -> None:
    eq = equity(18_000.0, 15_439.54, 0.1)
    assert float(eq.equity) == pytest.approx(2_560.46)
    assert float(eq.equity_low) == pytest.approx(16_200.0 - 15_439.54)
    assert float(eq.equity_high) == pytest.approx(19_800.0 - 15_439.54)
    with pytest.raises(ValueError):
        equity(1.0, 1.0, -0.1)


def test_equity_turns_positive() -> None:
    def value(d: date) -> float:  # worth 19,000 at the start, losing 250 a month
        months = (d.year - 2024) * 12 + d.month - 1
        return 19_000.0 - 250.0 * months

    turn = equity_positive_date(LOAN, value, date(2024, 2, 1))
    assert turn is not None and date(2024, 6, 1) < turn < date(2025, 6, 1)
    assert value(turn) - payoff_on(LOAN, turn) > 0
    before = add_months(turn, -1)
    assert value(before) - payoff_on(LOAN, before) <= 0
    deposit = equity_positive_date(LOAN, value, date(2024, 2, 1), threshold=3_000.0)
    assert deposit is not None and deposit > turn
    assert equity_positive_date(LOAN, lambda _d: 0.0, date(2024, 2, 1)) is None
    assert equity_positive_date(LOAN, lambda _d: 1e6, date(2024, 2, 1)) == date(2024, 2, 1)
    # a PCP's balloon keeps equity negative to the end if the car is worth less than it
    assert equity_positive_date(PCP, lambda _d: 9_000.0, date(2024, 2, 1)) is None


@settings(max_examples=100, deadline=None)
@given(
    st.floats(1_000.0, 100_000.0),
    st.floats(0.0, 0.25),
    st.integers(6, 96),
    st.floats(0.0, 0.6),
    st.integers(0, 120),
)
def test_schedule_invariants(
    principal: float, apr: float, term: int, balloon_share: float, k: int
) -> None:
    balloon = principal * balloon_share
    c = FinanceContract(principal, apr, term, date(2024, 3, 31), balloon=balloon)
    owed = balance_after(principal, apr, term, np.arange(term + 1), balloon)
    assert owed[0] == pytest.approx(principal) and owed[-1] == pytest.approx(balloon, abs=1e-6)
    dates = [add_months(c.start, j) for j in range(term + 2)]
    sched = payoff_schedule(c, dates)
    assert sched[:-1] == pytest.approx(owed[: term + 1], abs=1e-6)
    assert float(balance_after(principal, apr, term, k, balloon)) == pytest.approx(
        owed[min(k, term)], abs=1e-6
    )


@settings(max_examples=200, deadline=None)
@given(
    st.floats(1_000.0, 100_000.0),
    st.sampled_from([0.0, 0.001, 0.049, 0.069, 0.25]) | st.floats(0.0, 0.25),
    st.integers(6, 96),
    st.floats(0.0, 0.6),
    st.dates(date(2020, 1, 1), date(2033, 12, 31)),
    st.dates(date(2023, 1, 1), date(2025, 12, 31)),
)
def test_payoff_on_is_the_schedule_of_one_date(
    principal: float, apr: float, term: int, balloon_share: float, on: date, start: date
) -> None:
    """The scalar path gives what the vectorised schedule gives, before, during and after the
    term, with and without interest and balloon."""
    c = FinanceContract(principal, apr, term, start, balloon=principal * balloon_share)
    assert payoff_on(c, on) == pytest.approx(
        float(payoff_schedule(c, [on])[0]), rel=1e-12, abs=1e-7
    )

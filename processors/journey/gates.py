"""Gate conditions with hysteresis (pure): which gates are open given a vehicle's facts.

Each gate has an entry condition and a looser exit condition; a gate already open stays open
until its exit condition holds, so a forecast that wobbles around an entry threshold does not
flap. The conditions are documented in docs/journey.md ("Gates"); thresholds are in the rules.
Deadline gates (warranty ending, service due) also have a stage: early, near or deadline.
"""

from __future__ import annotations

from typing import NamedTuple

from processors.journey.rules import Rules
from processors.journey.state import VehicleJourney

MS_PER_DAY = 86_400_000


class GateView(NamedTuple):
    """Whether a gate is open now, its deadline stage (-1 before the first; 0 for gates
    without stages) and the figures behind it. (A named tuple: a dozen are made at every
    evaluation, three times faster than a frozen dataclass.)"""

    key: str
    gate: str
    subject: str | None
    open: bool
    stage: int


def days_until(when_ms: int, as_of_ms: int) -> int:
    """Whole UTC days from ``as_of_ms`` to ``when_ms`` (negative when past)."""
    return (when_ms // MS_PER_DAY) - (as_of_ms // MS_PER_DAY)


def _window_open(was_open: bool, days: int, km: float, enter: tuple[int, float],
                 leave: tuple[int, float]) -> bool:  # fmt: skip
    if was_open:
        return not (days > leave[0] and km > leave[1])
    return days <= enter[0] or km <= enter[1]


def deadline_stage(days: int, km: float, rules: Rules) -> int:
    """0 early, 1 near, 2 deadline, -1 not yet within the early stage."""
    s = rules.stages
    if days <= s.deadline_days or km <= 0:
        return 2
    if days <= s.near_days or km <= s.near_km:
        return 1
    if days <= s.early_days or km <= s.early_km:
        return 0
    return -1


def _coverage_keys(cov: str) -> tuple[str, str]:
    keys = _KEYS.get(cov)
    if keys is None:
        keys = _KEYS[cov] = (f"warranty_ending:{cov}", f"out_of_warranty:{cov}")
    return keys


_KEYS: dict[str, tuple[str, str]] = {}


def evaluate(j: VehicleJourney, rules: Rules) -> list[GateView]:
    """The vehicle's gates that are open or were open before (its state remembers them), in a
    fixed order (upgrade window and lapse last, as they depend on the others). A gate closed
    and never opened has nothing to tell: it is left out."""
    now, f, gates = j.as_of_ms, j.facts, j.gates
    today = now // MS_PER_DAY
    stages = rules.stages

    def was_open(key: str) -> bool:
        g = gates.get(key)
        return g is not None and g.open

    views: list[GateView] = []
    opened: set[str] = set()
    win = rules.warranty_ending
    for cov in sorted(f.warranty):
        w = f.warranty[cov]
        key, okey = _coverage_keys(cov)
        # Days of cover left after today: a coverage that ends on a date is no longer in force
        # on that date (as the signals processor and the simulator count it).
        days = w.expiry_ms // MS_PER_DAY - today - 1
        expired = w.expired or days < 0
        is_open = not expired and _window_open(
            was_open(key), days, w.km_remaining, (win.enter_days, win.enter_km),
            (win.exit_days, win.exit_km),
        )  # fmt: skip
        stage = deadline_stage(days, w.km_remaining, rules) if is_open else -1
        if is_open or key in gates:
            views.append(GateView(key, "warranty_ending", cov, is_open, stage))
        # Out of warranty is announced only within the early window after the expiry.
        recent = -days <= stages.early_days
        if expired or okey in gates:
            views.append(
                GateView(okey, "out_of_warranty", cov, expired, 0 if expired and recent else -1)
            )
        if is_open:
            opened.add("warranty_ending")
        if expired:
            opened.add("out_of_warranty")
    s = f.service
    due_open = overdue = False
    due_stage = -1
    overdue_days = 0
    if s is not None:
        days = s.due_ms // MS_PER_DAY - today
        overdue = s.overdue or days < 0
        sw = rules.service_due
        due_open = not overdue and _window_open(
            was_open("service_due"), days, s.km_remaining, (sw.enter_days, sw.enter_km),
            (sw.exit_days, sw.exit_km),
        )  # fmt: skip
        due_stage = deadline_stage(days, s.km_remaining, rules) if due_open else -1
        overdue_days = max(0, -days)
    if due_open or "service_due" in gates:
        views.append(GateView("service_due", "service_due", None, due_open, due_stage))
    if overdue or "service_overdue" in gates:
        views.append(GateView("service_overdue", "service_overdue", None, overdue, 0))
    bill_open = False
    bb = rules.big_bill
    if s is not None and s.currency in bb.amounts:
        amount = bb.amounts[s.currency]
        if was_open("big_bill"):
            bill_open = s.bill_expected >= bb.exit_ratio * amount
        else:
            within = s.due_ms // MS_PER_DAY - today <= bb.horizon_days
            bill_open = within and s.bill_expected >= amount
    if bill_open or "big_bill" in gates:
        views.append(GateView("big_bill", "big_bill", None, bill_open, 0))
    e = f.equity
    eq_open = False
    if e is not None:
        eq = rules.equity
        deposit = eq.deposit_pct_of_value / 100.0 * max(e.value_expected, 0.0)
        if was_open("equity_positive"):
            eq_open = e.equity_expected >= eq.exit_ratio * deposit
        else:
            # Enter only when the low end of the range covers the deposit: the value of one
            # car is uncertain by several percent (condition, market), and an equity alert
            # that the car's true value does not bear sends the owner to a disappointment.
            low = e.equity_low if e.equity_low is not None else e.equity_expected
            eq_open = low >= eq.enter_ratio * deposit
        eq_open = eq_open and deposit > 0 and e.equity_expected > 0
    if eq_open or "equity_positive" in gates:
        views.append(GateView("equity_positive", "equity_positive", None, eq_open, 0))
    severities = rules.fault_severities
    fault_open = bool(f.faults) and any(x.severity in severities for x in f.faults.values())
    if fault_open or "fault_active" in gates:
        views.append(GateView("fault_active", "fault_active", None, fault_open, 0))
    for gate, flag in (
        ("service_due", due_open),
        ("service_overdue", overdue),
        ("big_bill", bill_open),
        ("equity_positive", eq_open),
        ("fault_active", fault_open),
    ):
        if flag:
            opened.add(gate)
    upgrade = opened.issuperset(rules.upgrade_requires) and not opened.isdisjoint(
        rules.upgrade_any_of
    )
    if upgrade or "upgrade_window" in gates:
        views.append(GateView("upgrade_window", "upgrade_window", None, upgrade, 0))
    lapsed = overdue and (was_open("lapsed") or overdue_days >= rules.lapse_after_days_overdue)
    if lapsed or "lapsed" in gates:
        views.append(GateView("lapsed", "lapsed", None, lapsed, 0))
    return views

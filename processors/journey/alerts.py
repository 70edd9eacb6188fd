"""What an alert says (pure): a plain-language reason built from the signals' explanations, the
figures behind it, and the signal that caused it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from processors.journey.gates import MS_PER_DAY, days_until
from processors.journey.rules import Rules
from processors.journey.state import VehicleJourney
from schemas.alerts import Figure

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def when(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _day(ms: int) -> str:
    return _day_text(ms // MS_PER_DAY)


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    """A UTC day (days since the epoch) as the reasons write it; the same few hundred days come
    back in every vehicle's reasons."""
    return when(day * MS_PER_DAY).strftime("%d %b %Y")


def _money(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


def _days(name: str, days: int) -> Figure:
    return Figure(name, float(days), "days", f"{days} days")


def _km(name: str, km: float) -> Figure:
    return Figure(name, round(km, 1), "km", f"{km:,.0f} km")


def _amount(name: str, amount: float, currency: str) -> Figure:
    return Figure(name, round(amount, 2), currency, _money(amount, currency))


Content = tuple[str, tuple[Figure, ...], str | None]
"""Reason, figures and the id of the signal behind them."""


def _warranty(j: VehicleJourney, cov: str, ending: bool) -> Content:
    w = j.facts.warranty[cov]
    days = days_until(w.expiry_ms, j.as_of_ms)
    name = cov.replace("_", " ").capitalize()
    if ending:
        text = (
            f"{name} warranty ends on {_day(w.expiry_ms)} (in {days} days): "
            f"the {w.binds} limit binds."
        )
    else:
        text = f"{name} warranty ended on {_day(w.expiry_ms)}: repairs are now paid by the owner."
    s = j.facts.service
    if ending and s is not None and s.bill_expected > 0:
        text += (
            f" Next service due about {_day(s.due_ms)}, about "
            f"{_money(s.bill_expected, s.currency)}."
        )
    figures = (
        Figure("expiry_date", None, "date", _day(w.expiry_ms)),
        _days("days_remaining", days),
        _km("km_remaining", w.km_remaining),
    )
    return text, figures, w.signal_id


def _service(j: VehicleJourney, gate: str) -> Content:
    s = j.facts.service
    assert s is not None
    days = days_until(s.due_ms, j.as_of_ms)
    bill = _money(s.bill_expected, s.currency)
    if gate == "service_due":
        text = f"Service due about {_day(s.due_ms)} (in {days} days), expected bill about {bill}."
    elif gate == "big_bill":
        text = (
            f"The next service (about {_day(s.due_ms)}) is expected to cost about {bill} "
            f"({_money(s.bill_low, s.currency)} to {_money(s.bill_high, s.currency)})."
        )
    elif gate == "lapsed":
        text = f"The service due on {_day(s.due_ms)} has not been done at a dealer."
    else:
        text = f"Service overdue since {_day(s.due_ms)}; expected bill about {bill}."
    text += f" {s.explanation}" if gate in ("service_due", "big_bill") else ""
    figures = (
        Figure("due_date", None, "date", _day(s.due_ms)),
        _days("days_remaining", days),
        _km("km_remaining", s.km_remaining),
        _amount("bill_expected", s.bill_expected, s.currency),
    )
    return text, figures, s.signal_id


def _equity(j: VehicleJourney, rules: Rules) -> Content:
    e = j.facts.equity
    assert e is not None
    deposit = rules.equity.deposit_pct_of_value / 100.0 * e.value_expected
    text = (
        f"Equity of about {_money(e.equity_expected, e.currency)} covers a typical deposit "
        f"({_money(deposit, e.currency)}). {e.explanation}"
    )
    figures = (
        _amount("equity_expected", e.equity_expected, e.currency),
        _amount("value_expected", e.value_expected, e.currency),
        _amount("typical_deposit", deposit, e.currency),
    )
    return text, figures, e.signal_id


def _faults(j: VehicleJourney, rules: Rules) -> Content:
    active = [x for _, x in sorted(j.facts.faults.items()) if x.severity in rules.fault_severities]
    text = " ".join(x.explanation for x in active)
    figures = tuple(Figure("fault_code", None, "code", x.code) for x in active)
    return text, figures, active[-1].signal_id if active else None


def content(j: VehicleJourney, key: str, rules: Rules) -> Content:
    """Reason, figures and cause of an alert of gate ``key`` for the vehicle as it stands."""
    gate, _, subject = key.partition(":")
    if gate in ("warranty_ending", "out_of_warranty"):
        return _warranty(j, subject, gate == "warranty_ending")
    if gate in ("service_due", "service_overdue", "big_bill", "lapsed"):
        return _service(j, gate)
    if gate == "equity_positive":
        return _equity(j, rules)
    if gate == "fault_active":
        return _faults(j, rules)
    # upgrade window: its reasons, the equity first
    parts = ["equity_positive"] + [
        k for k in sorted(j.gates) if j.gates[k].open and k.split(":")[0] in rules.upgrade_any_of
    ]
    texts: list[str] = []
    figures: list[Figure] = []
    cause = None
    for part in parts:
        if not j.is_open(part):
            continue
        text, figs, signal_id = content(j, part, rules)
        texts.append(text)
        figures.extend(figs)
        cause = cause or signal_id
    return "Several reasons to change cars line up. " + " ".join(texts), tuple(figures), cause

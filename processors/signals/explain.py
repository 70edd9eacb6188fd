"""One line in plain words for each signal (pure)."""

from __future__ import annotations

from processors.signals.views import EquityView, FaultView, ServiceView, UsageView, WarrantyView


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


def usage(v: UsageView) -> str:
    return (
        f"Drives about {v.km_per_day:,.1f} km a day (\u00b1{v.km_per_day_sd:,.1f}) over "
        f"{v.history_days:,.0f} days of history; odometer {v.odometer_m / 1000:,.0f} km."
    )


def warranty(v: WarrantyView) -> str:
    name = v.coverage.replace("_", " ").capitalize()
    if v.expired:
        return f"{name} warranty ended on {v.expiry_p50.isoformat()} ({v.binds} limit)."
    left = f"{v.days_remaining} days and {v.km_remaining:,.0f} km left"
    if v.expiry_p10 == v.expiry_p90:
        return f"{name} warranty ends on {v.expiry_p50.isoformat()} ({v.binds} limit): {left}."
    return (
        f"{name} warranty ends about {v.expiry_p50.isoformat()} (between "
        f"{v.expiry_p10.isoformat()} and {v.expiry_p90.isoformat()}), by {v.binds}: {left}."
    )


def service(v: ServiceView) -> str:
    b = v.bill
    if v.overdue:
        when = f"Service overdue since {v.due_p50.isoformat()}"
    else:
        soon = " (soon)" if v.due_soon else ""
        when = f"Next service due about {v.due_p50.isoformat()}{soon}, by {v.binds}"
    paid = [line for line in b.lines if not line.covered]
    items = ", ".join(line.description for line in paid) or "nothing to pay"
    covered = sum(line.covered for line in b.lines)
    extra = f"; {covered} line(s) under warranty" if covered else ""
    return (
        f"{when}; predicted bill {_money(b.expected, b.currency)} "
        f"({_money(b.low, b.currency)}-{_money(b.high, b.currency)}): {items}{extra}."
    )


def equity(v: EquityView) -> str:
    worth = (
        f"Worth about {_money(v.value_expected, v.currency)} "
        f"({_money(v.value_low, v.currency)}-{_money(v.value_high, v.currency)}), "
        f"{_money(v.payoff, v.currency)} owed: equity {_money(v.equity_expected, v.currency)}"
    )
    if v.equity_expected > 0:
        return f"{worth}, positive."
    if v.positive_from is not None:
        return f"{worth}; positive from about {v.positive_from.isoformat()}."
    return f"{worth}; not positive within the contract."


def fault(event: str, f: FaultView) -> str:
    if event == "cleared":
        return f"{f.code} cleared: {f.description}."
    cost = f"{_money(f.cost_low, f.currency)}-{_money(f.cost_high, f.currency)}"
    return f"{f.code} raised: {f.description} ({f.severity}); likely repair: {f.repair}, {cost}."


def quality(reason: str, detail: str) -> str:
    return f"Data quality: {reason.replace('_', ' ')}: {detail}."

"""Which predictions changed enough to be published (pure).

``vehicle_state`` always holds a vehicle's current view; a prediction goes to ``vehicle.signals``
and the ``signals`` history only when it changes materially from the last one published of its
kind (and subject: a warranty coverage). The first prediction of each kind is always material.
Thresholds (:class:`Thresholds`, documented in docs/store.md):

- **usage**: the mean rate moves by at least 10 % and 1 km/day;
- **warranty** (per coverage): the P50 expiry moves by at least 3 days, or ``expired`` flips;
- **service**: the P50 due date moves by at least 3 days, the expected bill by at least 5 % (and
  one unit of currency), or ``due_soon`` or ``overdue`` flips;
- **equity**: the expected equity changes sign, or moves by at least 5 % of the larger of its
  last value and a tenth of the vehicle's value (so equity near zero does not publish on every
  small move; crossing zero is the sign rule's);
- faults (raised, cleared) and quality events are events, not predictions: always published
  (quality events of the odometer at most once per reason and UTC day, see :mod:`.logic`).

A kind is published at most once per as-of instant (its id embeds it): a change found at the
instant of the last publication of the same kind waits for the next newer input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from processors.signals.views import EquityView, Prediction, ServiceView, UsageView, WarrantyView


@dataclass(frozen=True, slots=True)
class Thresholds:
    usage_rel: float = 0.10
    usage_abs_km_per_day: float = 1.0
    date_days: int = 3
    amount_rel: float = 0.05
    amount_abs: float = 1.0
    equity_floor_value_share: float = 0.10


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(slots=True, init=False)
class LastUsage:
    as_of_ms: int
    km_per_day: float

    def __init__(
        self,
        as_of_ms: int,
        km_per_day: float,
    ) -> None:
        self.as_of_ms = as_of_ms
        self.km_per_day = km_per_day


@dataclass(slots=True, init=False)
class LastWarranty:
    coverage: str
    as_of_ms: int
    p50_day: int
    """Days since 1970-01-01 (UTC) of the P50 expiry."""
    expired: bool

    def __init__(
        self,
        coverage: str,
        as_of_ms: int,
        p50_day: int,
        expired: bool,
    ) -> None:
        self.coverage = coverage
        self.as_of_ms = as_of_ms
        self.p50_day = p50_day
        self.expired = expired


@dataclass(slots=True, init=False)
class LastService:
    as_of_ms: int
    p50_day: int
    bill_expected: float
    due_soon: bool
    overdue: bool

    def __init__(
        self,
        as_of_ms: int,
        p50_day: int,
        bill_expected: float,
        due_soon: bool,
        overdue: bool,
    ) -> None:
        self.as_of_ms = as_of_ms
        self.p50_day = p50_day
        self.bill_expected = bill_expected
        self.due_soon = due_soon
        self.overdue = overdue


@dataclass(slots=True, init=False)
class LastEquity:
    as_of_ms: int
    equity_expected: float
    value_expected: float

    def __init__(
        self,
        as_of_ms: int,
        equity_expected: float,
        value_expected: float,
    ) -> None:
        self.as_of_ms = as_of_ms
        self.equity_expected = equity_expected
        self.value_expected = value_expected


@dataclass(slots=True)
class Published:
    """What was last published of each kind (the materiality rules' memory)."""

    usage: LastUsage | None = None
    warranty: tuple[LastWarranty, ...] = ()
    service: LastService | None = None
    equity: LastEquity | None = None

    def warranty_of(self, coverage: str) -> LastWarranty | None:
        return next((w for w in self.warranty if w.coverage == coverage), None)


@dataclass(slots=True, init=False)
class Changes:
    """The views to publish, and the memory once they are."""

    usage: UsageView | None
    warranty: tuple[WarrantyView, ...]
    service: ServiceView | None
    equity: EquityView | None
    published: Published

    def __init__(
        self,
        usage: UsageView | None,
        warranty: tuple[WarrantyView, ...],
        service: ServiceView | None,
        equity: EquityView | None,
        published: Published,
    ) -> None:
        self.usage = usage
        self.warranty = warranty
        self.service = service
        self.equity = equity
        self.published = published

    @property
    def count(self) -> int:
        return (
            (self.usage is not None)
            + len(self.warranty)
            + (self.service is not None)
            + (self.equity is not None)
        )


def _moved(new: float, old: float, rel: float, absolute: float) -> bool:
    delta = abs(new - old)
    return delta >= absolute and delta >= rel * abs(old)


def usage_material(new: UsageView, last: LastUsage | None, t: Thresholds) -> bool:
    if last is None:
        return True
    return _moved(new.km_per_day, last.km_per_day, t.usage_rel, t.usage_abs_km_per_day)


def warranty_material(new: WarrantyView, last: LastWarranty | None, t: Thresholds) -> bool:
    if last is None:
        return True
    moved = abs(new.expiry_p50.toordinal() - _ordinal(last.p50_day)) >= t.date_days
    return moved or new.expired != last.expired


def service_material(new: ServiceView, last: LastService | None, t: Thresholds) -> bool:
    if last is None:
        return True
    return (
        abs(new.due_p50.toordinal() - _ordinal(last.p50_day)) >= t.date_days
        or _moved(new.bill.expected, last.bill_expected, t.amount_rel, t.amount_abs)
        or new.due_soon != last.due_soon
        or new.overdue != last.overdue
    )


def equity_material(new: EquityView, last: LastEquity | None, t: Thresholds) -> bool:
    if last is None:
        return True
    if (new.equity_expected > 0) != (last.equity_expected > 0):
        return True
    base = max(abs(last.equity_expected), t.equity_floor_value_share * last.value_expected)
    delta = abs(new.equity_expected - last.equity_expected)
    return delta >= t.amount_abs and delta >= t.amount_rel * base


_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


def _ordinal(epoch_day: int) -> int:
    return epoch_day + _EPOCH_ORDINAL


def epoch_day(ordinal: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian ordinal (``date.toordinal()``)."""
    return ordinal - _EPOCH_ORDINAL


def material_changes(
    prediction: Prediction, published: Published, t: Thresholds = DEFAULT_THRESHOLDS
) -> Changes:
    """The views of ``prediction`` to publish, given what was last published."""
    at = prediction.as_of_ms
    usage: UsageView | None = None
    if usage_material(prediction.usage, published.usage, t) and _newer(published.usage, at):
        usage = prediction.usage
        published = replace(published, usage=LastUsage(at, usage.km_per_day))
    warranty: list[WarrantyView] = []
    kept: list[LastWarranty] = []
    for view in prediction.warranty:
        last = published.warranty_of(view.coverage)
        if warranty_material(view, last, t) and _newer(last, at):
            warranty.append(view)
            last = LastWarranty(
                view.coverage, at, epoch_day(view.expiry_p50.toordinal()), view.expired
            )
        if last is not None:
            kept.append(last)
    published = replace(published, warranty=tuple(kept))
    service: ServiceView | None = None
    s = prediction.service
    if service_material(s, published.service, t) and _newer(published.service, at):
        service = s
        last_service = LastService(
            at, epoch_day(s.due_p50.toordinal()), s.bill.expected, s.due_soon, s.overdue
        )
        published = replace(published, service=last_service)
    equity: EquityView | None = None
    e = prediction.equity
    if e is not None and equity_material(e, published.equity, t) and _newer(published.equity, at):
        equity = e
        published = replace(published, equity=LastEquity(at, e.equity_expected, e.value_expected))
    return Changes(usage, tuple(warranty), service, equity, published)


def _newer(last: LastUsage | LastWarranty | LastService | LastEquity | None, at_ms: int) -> bool:
    return last is None or at_ms > last.as_of_ms

"""``journeygate score``: the store's predictions at ``now`` against the hidden future (pure).

For each figure, journeygate, the naive forecaster and the oracle are scored on the same
vehicles, and for each date also the ideal reader, which knows all the oracle knows but each
car's own pace (``references``; docs/simulator.md, "Scoring"). Every date is a whole day:

- warranty expiry error in days, for coverages whose true end is distance-bound and falls 0-30,
  31-90 or 91-180 days after ``now``;
- service-due date error in days, for vehicles whose true due date falls in the horizon and whose
  last service the dealer can know (at the dealer, or none since delivery);
- the service bill's median absolute percentage error against the real invoice of the next
  visit, for vehicles whose next visit is at their dealer (naive: the catalog's scheduled service
  alone; oracle: the catalog's expected price of exactly the items the visit will have);
  beside it, the same error against the invoice's *foreseeable* part: the invoice less the
  unrelated repairs the visit turns up (``other`` items) and the repairs of codes not active at
  ``now``, which nothing at ``now`` can know of (what is left is the forecaster's own error:
  the items it chose and their prices);
- the days every vehicle takes to drive what it truly drives in 40, 55, 70 and 85 days (a
  distance forecast 31-90 days ahead on the whole fleet, not only the few vehicles near a
  warranty limit; journeygate from its usage estimate, the references as for warranty);
- the share of true dates inside journeygate's P10-P90 interval (warranty, service), and the
  same over the dates whose interval is more than one day (the calibration of its spread);
- the equity sign for financed vehicles (naive: a rule-of-thumb value, 18 % the first year then
  15 % a year; oracle: a perfect reader of the catalog's depreciation curve at the world's true
  market level, as an exact market value index gives it; each car's own condition stays
  unknown to it).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

from reference.catalog import Catalog
from simulator.scoring.metrics import (
    HORIZON_BUCKETS,
    DateErrors,
    Ratio,
    bucket_of,
    date_errors,
    interval_coverage,
    median_abs_pct_error,
    median_error_ratio,
    sign_accuracy,
)
from simulator.scoring.references import (
    Naive,
    Oracle,
    capped,
    day_of,
    ideal_mean_daily_km,
    lifetime_rate,
)
from simulator.scoring.truth import ScoringTruth, VehicleTruth

METHODS = ("journeygate", "naive", "oracle")
DATE_METHODS = ("journeygate", "naive", "ideal", "oracle")
"""The dates are scored beside the ideal reader too (``references``)."""
Prediction = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Score:
    vehicles: int
    predicted: int
    warranty: dict[str, dict[str, DateErrors]]
    """Bucket -> method -> errors."""
    service_due: dict[str, DateErrors]
    bill: dict[str, tuple[int, float]]
    """Method -> (pairs, median absolute percentage error)."""
    bill_foreseeable: dict[str, tuple[int, float]]
    """The same against the foreseeable part of each invoice (see the module docstring)."""
    coverage: dict[str, tuple[int, float]]
    """``warranty`` / ``service`` -> (true dates, share inside P10-P90)."""
    equity_sign: dict[str, tuple[int, float]]
    distance: dict[str, DateErrors] = field(default_factory=dict)
    """Method -> errors of the days to drive the distance truly driven in :data:`DISTANCE_DAYS`."""
    ratios: dict[str, dict[str, Ratio]] = field(default_factory=dict)
    """Date figure (``warranty 0-30``..., ``distance``, ``service due``) -> reference
    (``naive``, ``ideal``, ``oracle``) -> journeygate's median error over the reference's."""


DISTANCE_DAYS = (40, 55, 70, 85)


@dataclass(slots=True)
class _Pairs:
    pred: dict[str, list[float]]
    true: list[float]

    @classmethod
    def new(cls) -> _Pairs:
        return cls({m: [] for m in DATE_METHODS}, [])

    def add(self, true_days: float, **pred: float) -> None:
        self.true.append(true_days)
        for method, days in pred.items():
            self.pred[method].append(days)

    def errors(self) -> dict[str, DateErrors]:
        return {m: date_errors(self.pred[m], self.true) for m in DATE_METHODS}

    def ratios(self) -> dict[str, Ratio]:
        """journeygate's median error over each reference's, on the dates all three forecast."""
        mine = self.pred["journeygate"]
        return {
            ref: median_error_ratio(mine, self.pred[ref], self.true)
            for ref in DATE_METHODS
            if ref != "journeygate"
        }


@dataclass(frozen=True, slots=True)
class _References:
    naive: Naive
    ideal: Oracle
    oracle: Oracle

    def days(self, remaining_km: float, today: date, time_limit: date | None) -> dict[str, float]:
        """Each reference's day for a distance still to drive, capped by a time limit."""
        return {
            "naive": capped(self.naive.days(remaining_km), today, time_limit),
            "ideal": capped(self.ideal.days(remaining_km), today, time_limit),
            "oracle": capped(self.oracle.days(remaining_km), today, time_limit),
        }


def _ideal_usage(vt: VehicleTruth, today: date) -> dict[str, Any]:
    """The car's true usage parameters with its mean as the ideal reader estimates it."""
    usage, facts, trajectory = vt.now["usage"], vt.facts, vt.trajectory
    lifetime_km = 0.0
    if trajectory is not None and "odometer_start_m" in facts:
        age_days = (
            date.fromisoformat(str(trajectory["first_day"]))
            - date.fromisoformat(facts["delivery_date"])
        ).days
        driven_km = (float(facts["odometer_start_m"]) - float(facts["delivery_odometer_m"])) / 1000
        lifetime_km = driven_km / age_days if age_days > 0 else 0.0
    return {**usage, "mean_daily_km": ideal_mean_daily_km(usage, trajectory, today, lifetime_km)}


def _days(day: str | None, today: date) -> float:
    return math.inf if day is None else float((date.fromisoformat(day) - today).days)


def score(truth: ScoringTruth, predictions: Mapping[str, Prediction], catalog: Catalog) -> Score:
    today = truth.today
    warranty = {name: _Pairs.new() for name, _, _ in HORIZON_BUCKETS}
    warranty_band: tuple[list[float], list[float], list[float]] = ([], [], [])
    service = _Pairs.new()
    distance = _Pairs.new()
    service_band: tuple[list[float], list[float], list[float]] = ([], [], [])
    bills, foreseen = _Bills(), _Bills()
    equity_pred: dict[str, list[float]] = {m: [] for m in METHODS}
    equity_true: list[float] = []
    for vin, vt in truth.vehicles.items():
        pred = predictions.get(vin)
        if pred is None or not vt.now or pred.get("odometer_m") is None:
            continue
        odometer_km = float(pred["odometer_m"]) / 1000
        rate = lifetime_rate(
            odometer_km,
            float(vt.facts.get("delivery_odometer_m", 0)) / 1000,
            today,
            date.fromisoformat(vt.facts["delivery_date"]),
        )
        if vt.future is not None:
            refs = _References(
                Naive(rate, truth.now),
                Oracle(_ideal_usage(vt, today), truth.now),
                Oracle(vt.now["usage"], truth.now),
            )
            _score_distance(vt, pred, today, odometer_km, refs, distance)
            _score_warranty(vt, pred, today, odometer_km, refs, warranty, warranty_band)
            _score_service(vt, pred, today, odometer_km, refs, service, service_band)
            _score_bill(vt, pred, truth, catalog, bills, foreseen)
        if vt.financed and pred.get("equity"):
            _score_equity(vt, pred, truth, equity_pred, equity_true)
    return Score(
        vehicles=len(truth.vehicles),
        predicted=sum(1 for vin in truth.vehicles if vin in predictions),
        warranty={name: pairs.errors() for name, pairs in warranty.items()},
        service_due=service.errors(),
        bill=bills.errors(),
        bill_foreseeable=foreseen.errors(),
        coverage={
            "warranty": interval_coverage(*warranty_band),
            "service": interval_coverage(*service_band),
            "warranty_uncertain": interval_coverage(*_spread_only(warranty_band)),
            "service_uncertain": interval_coverage(*_spread_only(service_band)),
        },
        equity_sign={m: sign_accuracy(equity_pred[m], equity_true) for m in METHODS},
        distance=distance.errors(),
        ratios={
            **{f"warranty {name}": pairs.ratios() for name, pairs in warranty.items()},
            "distance": distance.ratios(),
            "service due": service.ratios(),
        },
    )


def _spread_only(
    band: tuple[list[float], list[float], list[float]],
) -> tuple[list[float], list[float], list[float]]:
    """The dates whose P10 and P90 are different days: an interval that is one day (a time
    limit, a limit the odometer is known to have passed that day) holds its date or misses it,
    and says nothing of how well the intervals are calibrated."""
    keep = [i for i, (lo, hi) in enumerate(zip(band[0], band[1], strict=True)) if lo < hi]
    lo, hi, true = band
    return [lo[i] for i in keep], [hi[i] for i in keep], [true[i] for i in keep]


def _score_distance(
    vt: VehicleTruth,
    pred: Prediction,
    today: date,
    odometer_km: float,
    refs: _References,
    pairs: _Pairs,
) -> None:
    """Each method's days to reach the odometer the vehicle truly shows after each of
    :data:`DISTANCE_DAYS` days (journeygate: from its odometer at its as-of, at its rate)."""
    assert vt.future is not None
    usage, as_of = pred.get("usage") or {}, pred.get("as_of_ts")
    km_per_day = float(usage.get("km_per_day") or 0.0)
    trajectory = vt.future.get("odometer_m") or []
    if km_per_day <= 0 or not isinstance(as_of, datetime):
        return
    midnight = datetime.combine(today, time(), UTC)
    origin = (as_of - midnight) / timedelta(days=1)  # its last reading, in days after midnight
    for days in DISTANCE_DAYS:
        if days > len(trajectory):
            return
        remaining_km = float(trajectory[days - 1]) / 1000 - odometer_km
        pairs.add(
            float(days),
            journeygate=day_of(origin + remaining_km / km_per_day),
            **refs.days(remaining_km, today, None),
        )


def _score_warranty(
    vt: VehicleTruth,
    pred: Prediction,
    today: date,
    odometer_km: float,
    refs: _References,
    pairs: dict[str, _Pairs],
    band: tuple[list[float], list[float], list[float]],
) -> None:
    assert vt.future is not None
    predicted = {w["coverage"]: w for w in pred.get("warranty") or []}
    for true in vt.future.get("warranty") or []:
        coverage = predicted.get(true["coverage"])
        if coverage is None or true.get("expires_on") is None:
            continue
        true_days = _days(true["expires_on"], today)
        name = bucket_of(true_days)
        if true.get("binding") != "distance" or name is None:
            continue
        remaining_km = float(true["limit_km"]) - odometer_km
        time_limit = date.fromisoformat(true["time_limit_date"])
        pairs[name].add(
            true_days,
            journeygate=_days(coverage["expiry_p50"], today),
            **refs.days(remaining_km, today, time_limit),
        )
        band[0].append(_days(coverage["expiry_p10"], today))
        band[1].append(_days(coverage["expiry_p90"], today))
        band[2].append(true_days)


def true_service_due(vt: VehicleTruth, today: date) -> float | None:
    """Days after ``today`` the next service truly falls due, or None beyond the horizon."""
    state = vt.now.get("service") or {}
    if not state or vt.future is None:
        return None
    time_due = _days(state["due_date"], today)
    if state.get("due_by") == "distance":
        return time_due
    future = np.asarray(vt.future["odometer_m"], dtype=np.float64)
    reached = np.flatnonzero(future >= float(state["due_odometer_m"]))
    first = date.fromisoformat(vt.future["first_day"])
    distance_due = (
        float((first + timedelta(days=int(reached[0])) - today).days) if reached.size else math.inf
    )
    due = min(time_due, distance_due)
    return due if due <= len(future) else None


def _score_service(
    vt: VehicleTruth,
    pred: Prediction,
    today: date,
    odometer_km: float,
    refs: _References,
    pairs: _Pairs,
    band: tuple[list[float], list[float], list[float]],
) -> None:
    due = pred.get("service")
    true_days = true_service_due(vt, today)
    if not due or true_days is None or not vt.dealer_knows_last_service:
        return
    remaining_km = float(due["due_odometer_m"]) / 1000 - odometer_km
    time_limit = date.fromisoformat(due["due_date"])
    pairs.add(
        true_days,
        journeygate=_days(due["due_p50"], today),
        **refs.days(remaining_km, today, time_limit),
    )
    band[0].append(_days(due["due_p10"], today))
    band[1].append(_days(due["due_p90"], today))
    band[2].append(true_days)


def foreseeable_items(
    items: Sequence[Mapping[str, Any]], active_codes: Collection[str]
) -> list[Mapping[str, Any]]:
    """The items of a visit that could be known of at ``now``: the scheduled service, the wear
    items, and the repairs of the codes active then (not the unrelated ``other`` repairs)."""
    return [
        item
        for item in items
        if item.get("kind") in ("scheduled", "wear")
        or (item.get("kind") == "repair" and item.get("code") in active_codes)
    ]


@dataclass(slots=True)
class _Bills:
    """Each method's bills and the invoices they are scored against."""

    bills: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METHODS})
    invoices: list[float] = field(default_factory=list)

    def add(self, invoice: float, **bills: float) -> None:
        self.invoices.append(invoice)
        for method, bill in bills.items():
            self.bills[method].append(bill)

    def errors(self) -> dict[str, tuple[int, float]]:
        return {m: median_abs_pct_error(self.bills[m], self.invoices) for m in METHODS}


def _score_bill(
    vt: VehicleTruth,
    pred: Prediction,
    truth: ScoringTruth,
    catalog: Catalog,
    whole: _Bills,
    foreseen: _Bills,
) -> None:
    """The bills against the next visit's invoice (``whole``) and against its foreseeable items
    (``foreseen``; not where warranty paid for all of them)."""
    visit = vt.next_service()
    due = pred.get("service")
    if visit is None or not due or visit.get("where") != "dealer":
        return
    per_usd = truth.currency_per_usd
    schedule = catalog.service[vt.facts["powertrain"]]
    items = foreseeable_items(visit["items"], set(vt.now.get("active_dtcs") or ()))
    known_usd = sum(float(item.get("cost_usd", 0.0)) for item in items)
    mine, naive = float(due["bill_expected"]), schedule.price.expected * per_usd
    whole.add(
        float(visit["bill_usd"]) * per_usd,
        journeygate=mine,
        naive=naive,
        oracle=_catalog_price(visit, catalog, schedule.price.expected) * per_usd,
    )
    if known_usd > 0:
        known = {**visit, "items": items}
        foreseen.add(
            known_usd * per_usd,
            journeygate=mine,
            naive=naive,
            oracle=_catalog_price(known, catalog, schedule.price.expected) * per_usd,
        )


def _catalog_price(visit: Mapping[str, Any], catalog: Catalog, scheduled_usd: float) -> float:
    """The catalog's expected price of exactly the items the visit had (0 where warranty paid;
    unrelated repairs have no catalog price and count 0)."""
    wear = {w.item: w.price.expected for w in catalog.wear}
    total = 0.0
    for item in visit["items"]:
        if float(item.get("cost_usd", 0.0)) == 0.0:
            continue
        kind, code = item.get("kind"), item.get("code")
        if kind == "scheduled":
            total += scheduled_usd
        elif kind == "wear" and code in wear:
            total += wear[code]
        elif kind == "repair" and code is not None:
            fault = catalog.fault(code)
            total += fault.cost.expected if fault is not None else 0.0
    return total


def _score_equity(
    vt: VehicleTruth,
    pred: Prediction,
    truth: ScoringTruth,
    equity_pred: dict[str, list[float]],
    equity_true: list[float],
) -> None:
    now = vt.now
    per_usd = truth.currency_per_usd
    age = float(now["age_years"])
    rule_of_thumb = 1.0 - 0.18 * age if age < 1 else 0.82 * 0.85 ** (age - 1)
    payoff_usd = float(now["payoff_usd"])
    equity_true.append(float(now["equity"]))
    equity_pred["journeygate"].append(float(pred["equity"]["equity_expected"]))
    equity_pred["naive"].append((float(now["msrp_usd"]) * rule_of_thumb - payoff_usd) * per_usd)
    market_value_usd = float(now["curve_value_usd"]) * float(now["market_factor"])
    equity_pred["oracle"].append((market_value_usd - payoff_usd) * per_usd)

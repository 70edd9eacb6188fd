"""One vehicle's predictions at an instant (pure): usage, warranty, next service and its bill,
equity, active faults.

:func:`predict` takes the vehicle's registry facts, the reference catalog, its usage state, its
upkeep (last service, wear items replaced at visits, active codes) and the as-of instant, which is
the vehicle's newest event time, never the wall clock, so that a replay predicts the same.

- **Warranty**: basic and powertrain for every vehicle, traction battery for EVs and hybrids
  (the only powertrains with one), with the brand's terms (:meth:`Catalog.warranty_for`).
- **Next service**: the powertrain's schedule from the last visit with a scheduled item (or
  delivery); its bill (:mod:`.bill`) is priced at the visit the owner's own lateness makes
  likely after the P50 due date (:mod:`.lateness`), in the market's currency (:mod:`.pricing`).
- **Equity** (:mod:`.equity`): None when the model is not in the catalog (no MSRP or body).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from database.vehicle_facts import VehicleFacts
from processors.signals.bill import service_bill
from processors.signals.dates import datetime_to_ms, days_between, midnight_utc, ms_to_datetime
from processors.signals.equity import vehicle_equity
from processors.signals.estimate import (
    DEFAULT_MODEL,
    UsageEstimate,
    UsageModel,
    estimate_usage,
    recent_to_lifetime,
)
from processors.signals.history import OdometerHistory
from processors.signals.lateness import next_visit
from processors.signals.pricing import fault_view, pricing_for
from processors.signals.service import ServiceInterval, next_service
from processors.signals.upkeep import ServicePoint, Upkeep
from processors.signals.usage_state import UsageState
from processors.signals.views import (
    Prediction,
    ServiceView,
    UsageView,
    WarrantyView,
    tenth,
)
from processors.signals.warranty import Coverage, CoverageExpiry, warranty_expiry
from reference.catalog import Catalog, WarrantySpec

BATTERY_POWERTRAINS = ("ev", "hybrid")


@dataclass(frozen=True, slots=True)
class PredictParams:
    """Windows and models of the predictions (domain choices, not deployment settings)."""

    due_soon_days: float = 30.0
    due_soon_km: float = 1500.0
    usage_model: UsageModel = DEFAULT_MODEL


DEFAULT_PARAMS = PredictParams()


def vehicle_issues(vehicle: VehicleFacts, catalog: Catalog) -> tuple[tuple[str, str], ...]:
    """Data-quality problems of a registered vehicle: ``(reason, detail)`` pairs."""
    issues: list[tuple[str, str]] = []
    if catalog.model_named(vehicle.model_name) is None:
        detail = f"model {vehicle.model_name!r} is not in the reference catalog: no equity"
        issues.append(("unknown_model", detail))
    market = catalog.markets.get(vehicle.market)
    if market is None:
        detail = f"market {vehicle.market!r} is not in the reference catalog: priced as US"
        issues.append(("unknown_market", detail))
    elif market.currency != vehicle.currency:
        detail = f"registry currency {vehicle.currency} but market {market.code} prices in "
        issues.append(("currency_mismatch", detail + market.currency))
    return tuple(issues)


def coverages_of(vehicle: VehicleFacts, terms: WarrantySpec) -> tuple[Coverage, ...]:
    """The warranty coverages the vehicle has, with their terms."""
    names = ["basic", "powertrain"]
    if vehicle.powertrain in BATTERY_POWERTRAINS:
        names.append("traction_battery")
    out = []
    for name in names:
        spec = terms.coverage(name)
        assert spec is not None
        out.append(Coverage(name, spec.years, spec.limit_km))
    return tuple(out)


def odometer_anchor(
    vehicle: VehicleFacts, usage: UsageState | None, last_visit: ServicePoint | None
) -> tuple[int, float]:
    """The newest known odometer point ``(ms, metres)``: a reading, a visit, or delivery."""
    best = (delivery_ms(vehicle.delivery_date), float(vehicle.delivery_odometer_m))
    if usage is not None and (usage.last_ts_ms, usage.last_odometer_m) > best:
        best = (usage.last_ts_ms, usage.last_odometer_m)
    if last_visit is not None and (last_visit.ts_ms, float(last_visit.odometer_m)) > best:
        best = (last_visit.ts_ms, float(last_visit.odometer_m))
    return best


@lru_cache(maxsize=4096)
def delivery_ms(day: date) -> int:
    """Epoch ms of the start (UTC) of a delivery date (a fleet has few distinct ones)."""
    return datetime_to_ms(midnight_utc(day))


def _estimate(
    vehicle: VehicleFacts, usage: UsageState | None, params: PredictParams, shift: float = 0.0
) -> UsageEstimate:
    return estimate_usage(
        usage,
        delivery_ts_ms=delivery_ms(vehicle.delivery_date),
        delivery_odometer_m=float(vehicle.delivery_odometer_m),
        model=params.usage_model,
        shift=shift,
    )


def _usage_view(est: UsageEstimate, odometer_m: float) -> UsageView:
    return UsageView(
        odometer_m=round(odometer_m),
        km_per_day=round(est.mean_km_per_day, 2),
        km_per_day_sd=round(est.mean_sd_km_per_day, 2),
        daily_sd_km=round(est.daily_sd_km, 2),
        history_days=tenth(est.lifetime_days),
        recent_days=est.recent_days,
    )


def usage_now(
    vehicle: VehicleFacts | None,
    usage: UsageState | None,
    upkeep: Upkeep,
    params: PredictParams = DEFAULT_PARAMS,
) -> UsageView | None:
    """The usage estimate and newest odometer alone (cheap: no forecast); None for a vehicle
    neither registered nor ever read."""
    if vehicle is None:
        if usage is None:
            return None
        return _usage_view(estimate_usage(usage, model=params.usage_model), usage.last_odometer_m)
    return _usage_view(
        _estimate(vehicle, usage, params), odometer_anchor(vehicle, usage, upkeep.last_visit)[1]
    )


def predict(
    vehicle: VehicleFacts,
    catalog: Catalog,
    usage: UsageState | None,
    upkeep: Upkeep,
    as_of_ms: int,
    params: PredictParams = DEFAULT_PARAMS,
    usage_shift: float = 0.0,
) -> Prediction:
    """Every prediction for ``vehicle`` as of ``as_of_ms`` (see the module docstring), the
    fleet's ``usage_shift`` taken off the vehicle's recent rate (:mod:`.fleetshift`)."""
    est = _estimate(vehicle, usage, params, usage_shift)
    at_ms, odo_m = odometer_anchor(vehicle, usage, upkeep.last_visit)
    odo_at = ms_to_datetime(at_ms)
    as_of = ms_to_datetime(max(as_of_ms, at_ms))
    pricing = pricing_for(vehicle, catalog, upkeep.price_factor)
    odo_km = odo_m / 1000.0

    def km_on(when: datetime) -> float:
        """P50 odometer forecast (km) at ``when``."""
        return odo_km + est.mean_km_per_day * max(days_between(odo_at, when), 0.0)

    history = OdometerHistory(
        usage,
        delivery_ms(vehicle.delivery_date),
        float(vehicle.delivery_odometer_m),
        (upkeep.last_service, upkeep.last_visit),
        est.sd_km_per_day,
    )
    coverages = coverages_of(vehicle, catalog.warranty_for(vehicle.brand))
    expiries = warranty_expiry(
        vehicle.delivery_date, coverages, odo_km, odo_at, est, as_of, history
    )
    model = catalog.model_named(vehicle.model_name)
    equity = None
    if model is not None:
        today = as_of.date()
        equity = vehicle_equity(
            vehicle, model, catalog, pricing, today, lambda d: km_on(midnight_utc(d))
        )
    spec = catalog.service[vehicle.powertrain]
    last = upkeep.last_service
    since = vehicle.delivery_date if last is None else ms_to_datetime(last.ts_ms).date()
    since_m = vehicle.delivery_odometer_m if last is None else last.odometer_m
    due = next_service(
        since,
        since_m / 1000.0,
        ServiceInterval(spec.interval_months, spec.interval_km),
        odo_km,
        odo_at,
        est,
        as_of,
        due_soon_days=params.due_soon_days,
        due_soon_km=params.due_soon_km,
        history=history,
    )
    due_km = due.due_odometer_km if due.due_odometer_km is not None else float("inf")
    if due.overdue:
        when, at_km = as_of, km_on(as_of)
    else:
        when = due.p50
        at_km = due_km if due.binding == "distance" else min(km_on(when), due_km)
    rate = est.mean_km_per_day
    visits = next_visit(due, at_km, odo_km, odo_at, as_of, rate, upkeep.lateness)
    bill = service_bill(vehicle, catalog, pricing, spec, upkeep, visits, rate)
    service = ServiceView(
        due_p10=due.p10.date(),
        due_p50=due.p50.date(),
        due_p90=due.p90.date(),
        due_date=due.due_date.date(),
        due_odometer_m=round(due_km * 1000.0),
        binds=due.binding,
        due_soon=due.due_soon,
        overdue=due.overdue,
        days_remaining=round(due.days_remaining),
        km_remaining=tenth(due.km_remaining if due.km_remaining is not None else 0.0),
        forecast_odometer_m=round(at_km * 1000.0),
        bill=bill,
    )
    return Prediction(
        as_of_ms=datetime_to_ms(as_of),
        usage=_usage_view(est, odo_m),
        warranty=tuple(_warranty_view(e) for e in expiries),
        service=service,
        equity=equity,
        faults=tuple(fault_view(code, catalog, pricing) for code in upkeep.active_faults),
        recent_to_lifetime=recent_to_lifetime(est),
    )


def _warranty_view(e: CoverageExpiry) -> WarrantyView:
    return WarrantyView(
        coverage=e.coverage,
        expiry_p10=e.p10.date(),
        expiry_p50=e.p50.date(),
        expiry_p90=e.p90.date(),
        binds=e.binding,
        days_remaining=round(e.days_remaining),
        km_remaining=tenth(e.km_remaining if e.km_remaining is not None else float("inf")),
        expired=e.expired,
        time_end=e.time_end.date(),
        limit_km=tenth(e.limit_km if e.limit_km is not None else float("inf")),
    )

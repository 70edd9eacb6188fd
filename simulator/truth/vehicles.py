"""Truth lines about the world (pure): the dealers' prices; each vehicle, its true trajectory and
its events; where it stands at ``now`` (usage parameters, value, payoff, equity, wear); and,
with a horizon, its hidden future (daily odometer, warranty ends, events after ``now``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from reference.catalog import Catalog
from simulator.publishing.plan import Plan, VehicleTruth
from simulator.truth.lines import line
from simulator.world.events import Event
from simulator.world.prices import Garage
from simulator.world.usage import MIN_TRIP_KM, from_ms


def vehicle_line(truth: VehicleTruth, catalog: Catalog, owner_id: str | None = None) -> bytes:
    v, owner = truth.vehicle, truth.owner
    schedule = catalog.service[v.powertrain]
    return line(
        {
            "type": "vehicle",
            "vin": v.vin,
            "brand": v.brand,
            "model": v.model,
            "model_year": v.model_year,
            "powertrain": v.powertrain,
            "body": v.spec.body,
            "profile": v.profile,
            "delivery_date": v.delivery_date.isoformat(),
            "dealer_id": v.dealer_id,
            "delivery_odometer_m": v.delivery_odometer_m,
            "odometer_start_m": v.odometer_start_m,
            "engine_hours_start_h": v.engine_hours_start_h,
            "mean_daily_km": v.mean_daily_km,
            "weak_battery": v.weak_battery,
            "msrp_usd": v.spec.msrp_usd,
            "service_schedule": {
                "interval_km": schedule.interval_km,
                "interval_months": schedule.interval_months,
            },
            "owner": {
                "owner_id": owner_id or v.vin,
                "service_behaviour": owner.service_behaviour,
                "lapse_after_services": owner.lapse_after_services,
                "trade_in_ms": owner.trade_in_ms,
            },
            "finance": owner.finance.as_json(),
            "consent": dict(owner.consent),
            "warranty": [c.as_json() for c in truth.warranty],
        }
    )


def trajectory_line(truth: VehicleTruth) -> bytes:
    return line(
        {
            "type": "trajectory",
            "vin": truth.vehicle.vin,
            "first_day": truth.first_day.isoformat(),
            "odometer_m": list(truth.trajectory_m),
        }
    )


def event_line(event: Event, kind: str = "event") -> bytes:
    out: dict[str, Any] = {
        "type": kind,
        "event": event.kind,
        "vin": event.vin,
        "ts_ms": event.ts_ms,
        "at": from_ms(event.ts_ms).isoformat(),
        "odometer_m": event.odometer_m,
    }
    out.update(event.fields())
    return line(out)


def dealer_line(dealer: Garage) -> bytes:
    return line({"type": "dealer", "dealer_id": dealer.garage_id, **dealer.as_json()})


def usage_json(truth: VehicleTruth) -> dict[str, Any]:
    """What decides a day's distance (docs/simulator.md, truth file: ``vehicle_now``)."""
    p = truth.usage
    return {
        "profile": truth.vehicle.profile,
        "mean_daily_km": truth.vehicle.mean_daily_km,
        "day_sigma": p.day_sigma,
        "weekday_factors": list(p.weekday_factors),
        "month_factors": list(p.month_factors),
        "zero_day_probability_weekday": p.zero_day_probability_weekday,
        "zero_day_probability_weekend": p.zero_day_probability_weekend,
        "max_day_km": p.max_day_km,
        "extra_trips_mean": p.extra_trips_mean,
        "max_trips": p.max_trips,
        "min_trip_km": MIN_TRIP_KM,
        "departure_hours": list(p.departure_hours),
    }


def vehicle_now_line(truth: VehicleTruth, plan: Plan) -> bytes:
    value, world = truth.value, truth.world
    factor = plan.market.factor if plan.market is not None else 1.0
    currency = plan.market.currency if plan.market is not None else "USD"
    return line(
        {
            "type": "vehicle_now",
            "vin": truth.vehicle.vin,
            "now": plan.now.isoformat(),
            "on": value.on.isoformat(),
            "usage": usage_json(truth),
            **value.as_json(),
            "currency": currency,
            "value": round(value.value_usd * factor, 2),
            "payoff": round(value.payoff_usd * factor, 2),
            "equity": round(value.equity_usd * factor, 2),
            "garages": {
                "dealer_id": world.dealer.garage_id,
                "dealer": world.dealer.as_json(),
                "independent_level": round(world.independent.parts_level, 4),
            },
            **truth.standing.as_json(),
        }
    )


def future_line(truth: VehicleTruth) -> bytes:
    future = truth.future
    assert future is not None
    last = future.first_day + timedelta(days=len(future.trajectory_m) - 1)
    return line(
        {
            "type": "future",
            "vin": truth.vehicle.vin,
            "first_day": future.first_day.isoformat(),
            "last_day": last.isoformat(),
            "now_day_odometer_m": future.now_day_odometer_m,
            "odometer_m": list(future.trajectory_m),
            "trade_in_ms": future.trade_in_ms,
            "warranty": [
                {**c.as_json(), "ends_after_horizon": c.expires_on is None} for c in future.warranty
            ],
        }
    )


def world_lines(plan: Plan, catalog: Catalog) -> list[bytes]:
    """Every dealer, vehicle, trajectory and event line, then where each vehicle stands at
    ``now`` and its future (with a horizon), in fleet order."""
    lines = [dealer_line(d) for d in plan.dealers]
    owners = plan.owner_ids or tuple(t.vehicle.vin for t in plan.vehicles)
    lines += [vehicle_line(t, catalog, o) for t, o in zip(plan.vehicles, owners, strict=True)]
    lines += [trajectory_line(t) for t in plan.vehicles]
    lines += [event_line(e) for t in plan.vehicles for e in t.events]
    lines += [vehicle_now_line(t, plan) for t in plan.vehicles]
    futures = [t for t in plan.vehicles if t.future is not None]
    lines += [future_line(t) for t in futures]
    lines += [event_line(e, "future_event") for t in futures if t.future for e in t.future.events]
    return lines

"""Truth lines about the world: each vehicle, its true trajectory and its events (pure)."""

from __future__ import annotations

from typing import Any

from reference.catalog import Catalog
from simulator.publishing.plan import Plan, VehicleTruth
from simulator.truth.lines import line
from simulator.world.events import Event
from simulator.world.usage import from_ms


def vehicle_line(truth: VehicleTruth, catalog: Catalog) -> bytes:
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


def event_line(event: Event) -> bytes:
    out: dict[str, Any] = {
        "type": "event",
        "event": event.kind,
        "vin": event.vin,
        "ts_ms": event.ts_ms,
        "at": from_ms(event.ts_ms).isoformat(),
        "odometer_m": event.odometer_m,
    }
    out.update(event.fields())
    return line(out)


def world_lines(plan: Plan, catalog: Catalog) -> list[bytes]:
    """Every vehicle, trajectory and event line, in fleet order."""
    lines = [vehicle_line(t, catalog) for t in plan.vehicles]
    lines += [trajectory_line(t) for t in plan.vehicles]
    lines += [event_line(e) for t in plan.vehicles for e in t.events]
    return lines

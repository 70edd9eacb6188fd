"""Registers a simulated fleet in the registry, in one transaction, before anything is sent.

Each vehicle is written with everything the predictions need (:func:`vehicle_records`): model,
delivery date and odometer, selling dealer, market and currency, the finance contract (kind,
amount financed, APR, term, start, balloon; amounts in the market's currency) and the owner's
initial consent per purpose, given at delivery (00:00 UTC), and its owner (``owner_id``: some
owners have several of the fleet's vehicles, docs/simulator.md). It goes through
:func:`database.vehicles.upsert_vehicles`, so a repeated run rewrites the same rows: registering
is idempotent. :func:`register_fleet` returns how many VINs were not registered before.

With the fleet goes the market's value index as a price index would publish it
(:func:`market_index`): the world's fleet-wide value factor (``value.market_sigma``,
:mod:`simulator.world.value`), reported to three decimals with a reporting error of its own;
each vehicle's own factor (condition, colour) stays unknown to the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from decimal import Decimal

import numpy as np
import psycopg

from database.db import connect_migrated
from database.market_index import MarketIndex
from database.registry_file import Finance, VehicleRecord
from database.vehicles import upsert_vehicles
from kernel.errors import InfrastructureError
from kernel.settings import mask_url
from reference.catalog import Market
from simulator.publishing.plan import Plan
from simulator.world.fleet import Vehicle
from simulator.world.owners import FinanceContract, Owner

SOURCE = "simulator"
INDEX_SOURCE = "simulated wholesale used-car price index"
INDEX_REPORT_SIGMA = 0.01
"""The index's reporting error: lognormal, about 1 % (a price index samples the market)."""
_INDEX_STREAM = 17  # the index's own random stream: the world's other draws stay as they were
SELECT_KNOWN = "SELECT vin FROM vehicles WHERE vin = ANY(%s)"


def _money(usd: float, market: Market) -> Decimal:
    return Decimal(f"{usd * market.factor:.2f}")


def finance_record(contract: FinanceContract, market: Market) -> Finance:
    """The registry's finance contract: amount financed is the principal (price - deposit)."""
    if contract.kind == "cash":
        return Finance("cash")
    return Finance(
        kind=contract.kind,
        amount=_money(contract.principal_usd, market),
        apr_pct=Decimal(f"{contract.apr_pct:.3f}"),
        term_months=contract.term_months,
        start=contract.start,
        balloon=_money(contract.balloon_usd, market),
    )


def vehicle_record(
    vehicle: Vehicle,
    owner: Owner,
    market: Market,
    list_price_usd: float | None = None,
    owner_id: str | None = None,
) -> VehicleRecord:
    return VehicleRecord(
        vin=vehicle.vin,
        brand=vehicle.brand,
        model=vehicle.model,
        model_year=vehicle.model_year,
        powertrain=vehicle.powertrain,
        delivery_date=vehicle.delivery_date,
        delivery_odometer_m=vehicle.delivery_odometer_m,
        dealer_id=vehicle.dealer_id,
        market=market.code,
        currency=market.currency,
        finance=finance_record(owner.finance, market),
        consent=owner.consent,
        consent_at=datetime.combine(vehicle.delivery_date, time(), UTC),
        # A price, like a vehicle's value, converts at the exchange rate alone.
        list_price=None
        if list_price_usd is None
        else Decimal(f"{list_price_usd * market.per_usd:.2f}"),
        owner_id=owner_id,
    )


def vehicle_records(plan: Plan) -> list[VehicleRecord]:
    """The registry rows of a plan's fleet, in fleet order, with each vehicle's owner."""
    market = plan.market
    if market is None:
        raise ValueError("the plan has no market")
    owners = plan.owner_ids or (None,) * len(plan.vehicles)
    return [
        vehicle_record(t.vehicle, t.owner, market, t.value.list_price_usd, owner_id)
        for t, owner_id in zip(plan.vehicles, owners, strict=True)
    ]


def market_index(plan: Plan) -> MarketIndex:
    """The market value index of the plan's world on its last day, as published."""
    if plan.market is None:
        raise ValueError("the plan has no market")
    rng = np.random.default_rng([plan.params.seed, _INDEX_STREAM])
    reported = plan.market_factor * float(rng.lognormal(0.0, INDEX_REPORT_SIGMA))
    return MarketIndex(plan.market.code, plan.now.date(), round(reported, 3), INDEX_SOURCE)


def register_fleet(database_url: str, records: Sequence[VehicleRecord]) -> int:
    """Upsert the fleet's vehicles and consent; returns how many VINs were new."""
    vins = [r.vin for r in records]
    try:
        with connect_migrated(database_url) as conn, conn.cursor() as cur:
            cur.execute(SELECT_KNOWN, (vins,))
            known = {str(row[0]) for row in cur.fetchall()}
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"registering vehicles in {mask_url(database_url)} failed: {type(exc).__name__}"
        ) from exc
    upsert_vehicles(database_url, records, source=SOURCE)
    return len(set(vins) - known)

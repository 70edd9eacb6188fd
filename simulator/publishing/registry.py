"""Registers a simulated fleet in the ``vehicles`` table, in one batch, before anything is sent.

Idempotent: a VIN already registered is left as it is (``ON CONFLICT (vin) DO NOTHING``), so a
run can be repeated against the same database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import psycopg

from database.db import connect
from kernel.errors import ConfigError, InfrastructureError
from kernel.settings import mask_url
from simulator.world.fleet import Vehicle

INSERT_VEHICLE = (
    "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date, dealer_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (vin) DO NOTHING"
)

VehicleRow = tuple[str, str, str, int, str, date, str]


def vehicle_rows(fleet: Sequence[Vehicle]) -> list[VehicleRow]:
    """The ``vehicles`` rows of a fleet, in fleet order."""
    return [
        (v.vin, v.brand, v.model, v.model_year, v.powertrain, v.delivery_date, v.dealer_id)
        for v in fleet
    ]


def register_fleet(database_url: str, fleet: Sequence[Vehicle]) -> int:
    """Insert the fleet's vehicles; returns how many were new."""
    rows = vehicle_rows(fleet)
    try:
        with connect(database_url) as conn, conn.cursor() as cur:
            cur.executemany(INSERT_VEHICLE, rows)
            return max(cur.rowcount, 0)
    except psycopg.errors.UndefinedTable:
        raise ConfigError(
            f"no vehicles table in {mask_url(database_url)}: run `journeygate migrate` first"
        ) from None
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"registering vehicles in {mask_url(database_url)} failed: {type(exc).__name__}"
        ) from exc

"""Reading what the pipeline predicted: the ``vehicle_state`` view of the signals processor."""

from __future__ import annotations

from typing import Any

import psycopg

from database.db import connect_migrated
from kernel.errors import InfrastructureError
from kernel.settings import mask_url

SELECT_PREDICTIONS = (
    "SELECT vin, odometer_m, warranty, service, equity, as_of_ts, usage FROM vehicle_state"
)


def read_predictions(database_url: str) -> dict[str, dict[str, Any]]:
    """Each vehicle's current predictions, by VIN."""
    try:
        with connect_migrated(database_url) as conn, conn.cursor() as cur:
            cur.execute(SELECT_PREDICTIONS)
            rows = cur.fetchall()
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"reading predictions from {mask_url(database_url)} failed: {type(exc).__name__}"
        ) from exc
    return {
        str(vin): {
            "odometer_m": odometer_m,
            "warranty": warranty,
            "service": service,
            "equity": equity,
            "as_of_ts": as_of,
            "usage": usage,
        }
        for vin, odometer_m, warranty, service, equity, as_of, usage in rows
    }

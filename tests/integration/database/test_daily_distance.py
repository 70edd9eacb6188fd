"""``daily_distance`` (migration 0013) on plain PostgreSQL: the distance each vehicle drove each
UTC day, as the TimescaleDB continuous aggregate gives it (docs/store.md, "TimescaleDB")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from database.migrate import apply_policies, policies
from kernel.settings import Settings

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 22, tzinfo=UTC)


def test_daily_distance_sums_each_vehicles_utc_day(settings: Settings) -> None:
    readings = [  # (vin, hours after T0, odometer m); T0 is 22:00 UTC
        ("V1", 0, 1_000_000), ("V1", 1, 1_040_000), ("V1", 3, 1_100_000), ("V1", 5, 1_130_500),
        ("V2", 2, 5_000_000), ("V2", 2.5, None),
    ]  # fmt: skip
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for seq, (vin, hours, odo) in enumerate(readings):
            at = T0 + timedelta(hours=hours)
            conn.execute(
                "INSERT INTO telemetry (vin, boot_id, seq, sample_idx, event_ts, ingest_ts,"
                " odometer_m) VALUES (%s, 'b', %s, 0, %s, %s, %s)",
                (vin, seq, at, at, odo),
            )
        rows = conn.execute(
            "SELECT vin, day, first_odometer_m, last_odometer_m, km, readings"
            " FROM daily_distance ORDER BY vin, day"
        ).fetchall()
    day1, day2 = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    assert rows == [
        ("V1", day1, 1_000_000, 1_040_000, 40.0, 2),
        ("V1", day2, 1_100_000, 1_130_500, 30.5, 2),
        ("V2", day2, 5_000_000, 5_000_000, 0.0, 1),
    ]
    # without TimescaleDB the policies are not applied, and migrate says nothing of them
    assert apply_policies(settings.database_url, policies({}, {})) is False

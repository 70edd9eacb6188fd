"""``daily_distance`` (migration 0013): the distance each vehicle drove each UTC day, the same
columns and figures from the plain view and from TimescaleDB's continuous aggregate, and the
policies ``journeygate migrate`` sets on TimescaleDB (docs/store.md, "TimescaleDB"). The suite's
PostgreSQL has no TimescaleDB: the last test runs only against a server given with
``JOURNEYGATE_TEST_DATABASE_URL`` that preloads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import TupleRow

from database.migrate import apply_policies, policies, timescaledb_enabled
from kernel.settings import Settings

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 22, tzinfo=UTC)
Reading = tuple[str, float, int | None]
READINGS: list[Reading] = [  # (vin, hours after T0, odometer m); T0 is 22:00 UTC
    ("V1", 0, 1_000_000), ("V1", 1, 1_040_000), ("V1", 3, 1_100_000), ("V1", 5, 1_130_500),
    ("V2", 2, 5_000_000), ("V2", 2.5, None),
]  # fmt: skip
DAY1, DAY2 = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
EXPECTED = [
    ("V1", DAY1, 1_000_000, 1_040_000, 40.0, 2),
    ("V1", DAY2, 1_100_000, 1_130_500, 30.5, 2),
    ("V2", DAY2, 5_000_000, 5_000_000, 0.0, 1),
]
QUERY = (
    "SELECT vin, day, first_odometer_m, last_odometer_m, km, readings"
    " FROM daily_distance ORDER BY vin, day"
)


def insert(conn: psycopg.Connection[TupleRow], first_seq: int, readings: list[Reading]) -> None:
    for seq, (vin, hours, odo) in enumerate(readings, start=first_seq):
        at = T0 + timedelta(hours=hours)
        conn.execute(
            "INSERT INTO telemetry (vin, boot_id, seq, sample_idx, event_ts, ingest_ts,"
            " odometer_m) VALUES (%s, 'b', %s, 0, %s, %s, %s)",
            (vin, seq, at, at, odo),
        )


def test_daily_distance_sums_each_vehicles_utc_day(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        insert(conn, 0, READINGS)
        assert conn.execute(QUERY).fetchall() == EXPECTED
    # the policies are set only on TimescaleDB (and migrate prints them only there)
    url = settings.database_url
    assert apply_policies(url, policies({}, {})) is timescaledb_enabled(url)


def test_on_timescaledb_policies_are_replaced_and_the_aggregate_refreshed(
    settings: Settings,
) -> None:
    url = settings.database_url
    if not timescaledb_enabled(url):
        pytest.skip(
            "no TimescaleDB in this PostgreSQL: run with JOURNEYGATE_TEST_DATABASE_URL of one"
            ' (docs/store.md, "Checked by hand")'
        )
    for _ in range(2):  # as two runs of journeygate migrate with the same settings
        assert apply_policies(url, policies({"signals": 400}, {"telemetry": -1}))
    with psycopg.connect(url, autocommit=True) as conn:
        jobs = conn.execute(
            "SELECT hypertable_name, proc_name, config->>'drop_after', config->>'compress_after'"
            " FROM timescaledb_information.jobs WHERE hypertable_name IN ('telemetry', 'signals')"
            " ORDER BY 1, 2"
        ).fetchall()
        assert jobs == [
            ("signals", "policy_compression", None, "90 days"),
            ("signals", "policy_retention", "400 days", None),
            ("telemetry", "policy_retention", "1095 days", None),
        ]
        insert(conn, 0, READINGS)
        conn.execute("CALL refresh_continuous_aggregate('daily_distance', NULL, NULL)")
        assert conn.execute(QUERY).fetchall() == EXPECTED
        # A reading for a day already materialized shows once the aggregate is refreshed again
        # (by its policy, hourly, for the last 30 days), not before: unlike the plain view.
        insert(conn, 100, [("V1", 6, 1_150_000)])
        assert conn.execute(QUERY).fetchall() == EXPECTED
        conn.execute("CALL refresh_continuous_aggregate('daily_distance', NULL, NULL)")
        assert conn.execute(QUERY).fetchall()[1] == ("V1", DAY2, 1_100_000, 1_150_000, 50.0, 3)

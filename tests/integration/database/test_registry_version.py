"""The registry's version (migrations 0018, 0019) moves with every statement that changes a row
of ``vehicles``, ``consent_changes`` or ``market_value_index``, whoever runs it, and only then
(the journey processor's record of a consent heard on Kafka aside)."""

from __future__ import annotations

import psycopg
import pytest

from kernel.settings import Settings

pytestmark = pytest.mark.integration

VIN = "1HGCM82633A004352"
INSERT_VEHICLE = (
    "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date, dealer_id)"
    " VALUES (%s, 'Honda', 'Civic', 2023, 'ice', '2023-03-14', %s)"
    " ON CONFLICT (vin) DO UPDATE SET dealer_id = EXCLUDED.dealer_id"
    " WHERE vehicles.dealer_id IS DISTINCT FROM EXCLUDED.dealer_id"
)
INSERT_CONSENT = (
    "INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)"
    " VALUES (%s, 'service_reminders', %s, '2024-01-01', 'test') ON CONFLICT DO NOTHING"
)


def test_the_version_moves_with_each_changing_statement_only(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:

        def version() -> int:
            row = conn.execute("SELECT version FROM registry_version").fetchone()
            assert row is not None
            return int(row[0])

        start = version()
        conn.execute(INSERT_VEHICLE, (VIN, "dealer-7"))
        assert version() == start + 1
        conn.execute(INSERT_VEHICLE, (VIN, "dealer-7"))  # the same row again: nothing changed
        assert version() == start + 1
        conn.execute(INSERT_VEHICLE, (VIN, "dealer-9"))  # a new dealer
        assert version() == start + 2
        conn.execute(INSERT_CONSENT, (VIN, True))
        assert version() == start + 3
        conn.execute(INSERT_CONSENT, (VIN, True))  # a repeat: no row
        assert version() == start + 3
        conn.execute("UPDATE consent_changes SET granted = false WHERE vin = %s", (VIN,))
        assert version() == start + 4
        with conn.transaction():  # seen by others only with the commit, as the rows are
            conn.execute("UPDATE vehicles SET owner_id = 'owner-1' WHERE vin = %s", (VIN,))
            with psycopg.connect(settings.database_url, autocommit=True) as other:
                row = other.execute("SELECT version FROM registry_version").fetchone()
                assert row is not None and int(row[0]) == start + 4
        assert version() == start + 5
        conn.execute("DELETE FROM vehicles WHERE vin = %s", (VIN,))  # and its consent, cascaded
        assert version() == start + 7
        conn.execute("TRUNCATE consent_changes")
        assert version() == start + 8
        conn.execute(
            "INSERT INTO market_value_index (market, as_of, factor, source)"
            " VALUES ('US', '2026-01-01', 0.95, 'test')"
        )
        assert version() == start + 9
        with conn.transaction():  # as the journey processor records a consent heard on Kafka
            conn.execute("SELECT set_config('journeygate.registry_version', 'keep', true)")
            conn.execute(INSERT_VEHICLE, (VIN, "dealer-7"))
        assert version() == start + 9

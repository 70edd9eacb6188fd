"""The embedded stack's servers are real and reachable."""

from __future__ import annotations

import psycopg
import pytest

from kernel.settings import Settings

pytestmark = pytest.mark.integration


def test_database_is_migrated(settings: Settings) -> None:
    with psycopg.connect(settings.database_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert {"vehicles", "telemetry", "consumer_offsets", "schema_migrations"} <= tables

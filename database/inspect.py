"""Read-only questions about what the store holds (demo summary, tests, verification)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from database.db import connect_migrated
from schemas.records import SampleKey


@dataclass(frozen=True, slots=True)
class StoreCounts:
    vehicles: int
    samples: int
    vehicles_with_telemetry: int


def store_counts(database_url: str) -> StoreCounts:
    with connect_migrated(database_url, autocommit=True) as conn:
        row: tuple[Any, ...] | None = conn.execute(
            "SELECT (SELECT count(*) FROM vehicles),"
            " (SELECT count(*) FROM telemetry),"
            " (SELECT count(DISTINCT vin) FROM telemetry)"
        ).fetchone()
    assert row is not None
    return StoreCounts(
        vehicles=int(row[0]), samples=int(row[1]), vehicles_with_telemetry=int(row[2])
    )


def stored_sample_keys(database_url: str) -> list[SampleKey]:
    """Every stored sample's idempotency key, with repeats if the store ever held any."""
    with connect_migrated(database_url, autocommit=True) as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT vin, boot_id, seq, sample_idx FROM telemetry"
        ).fetchall()
    return [(str(v), str(b), int(s), int(i)) for v, b, s, i in rows]

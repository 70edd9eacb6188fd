"""The store's transaction against a real PostgreSQL: rows, repeats and offsets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from database.offsets import load_offsets
from kernel.settings import Settings
from processors.store.copybin import rows_copy
from processors.store.db import StoreDb
from processors.store.logic import TelemetryRow

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def row(seq: int, idx: int = 0) -> TelemetryRow:
    return TelemetryRow(
        "WVWZZZ1KZ8W000001",
        "boot",
        seq,
        idx,
        T0 + timedelta(seconds=seq),
        T0,
        1000 + seq,
        50.0,
        None,
        80.5,
        12.4,
        None,
        3600,
        ["P0300"] if seq % 2 else None,
        48.1,
        None,
    )


def test_repeats_are_absorbed_and_offsets_never_move_backwards(settings: Settings) -> None:
    async def scenario() -> None:
        db = StoreDb(settings.database_url, "g")
        await db.connect()
        try:
            first = await db.write_batch(
                rows_copy([row(1), row(2), row(1)]), {("frames", 0): 10, ("frames", 1): 4}
            )
            assert (first.rows, first.inserted) == (3, 2)
            assert dict(first.offsets) == {("frames", 0): 10, ("frames", 1): 4}

            again = await db.write_batch(rows_copy([row(2), row(3)]), {("frames", 0): 7})
            assert (again.rows, again.inserted) == (2, 1)
            assert dict(again.offsets) == {("frames", 0): 10}

            only_offsets = await db.write_batch(rows_copy([]), {("frames", 1): 9})
            assert (only_offsets.rows, only_offsets.inserted) == (0, 0)
            assert await load_offsets(settings.database_url, "g", ["frames"]) == {
                ("frames", 0): 10,
                ("frames", 1): 9,
            }
            assert await load_offsets(settings.database_url, "other", ["frames"]) == {}
        finally:
            await db.close()

    asyncio.run(scenario())

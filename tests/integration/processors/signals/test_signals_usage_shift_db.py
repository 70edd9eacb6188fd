"""The partitions' states (usage shift, dealers' pooled prices) in PostgreSQL: stored with a
batch and its offsets, never rewound by a batch replayed after a crash, read back as written."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import psycopg
import pytest

from kernel.settings import Settings
from processors.signals.db import SignalsDb, UsageShifts
from processors.signals.dealerprices import DealerPrices, PricedLines
from processors.signals.fleetshift import PartitionShift, epoch_of
from processors.signals.logic import BatchOutcome
from processors.signals.partition import PartitionState

pytestmark = pytest.mark.integration
TOPIC = "telemetry.frames"
NOTHING = BatchOutcome({}, (), (), (), (), Counter(), 0, (), 0)


def shift(day: int, bins: int, vehicles: int) -> PartitionState:
    state = PartitionShift().at_tick(day - 1)
    for _ in range(vehicles):
        state = state.moved(None, 0, bins, epoch_of(day - 1))
    seen = [PricedLines(day - 10, f"D{i}", i + 1, 0.01 * bins) for i in range(vehicles % 4)]
    waiting = [PricedLines(day - 1, "D9", 2, -0.3)]
    prices = DealerPrices().observed(seen).at_tick(day).observed(waiting)
    return PartitionState(state.at_tick(day), prices)


async def _scenario(url: str) -> None:
    db = SignalsDb(url, "g")
    try:
        assert await db.load_shifts(TOPIC, [0, 1]) == {}
        first = {0: shift(20_100, 4, 25), 1: shift(20_100, 0, 3)}
        result = await db.write_batch(
            NOTHING, {}, {(TOPIC, 0): 50, (TOPIC, 1): 40}, UsageShifts(TOPIC, first)
        )
        assert result.offsets == {(TOPIC, 0): 50, (TOPIC, 1): 40}
        assert await db.load_shifts(TOPIC, [0, 1, 2]) == first
        assert first[0].shift.shift == 4
        assert first[1].prices.levels().get("D2") is not None and first[1].prices.pending
        # a batch replayed from before the stored offset cannot rewind the state
        stale = {0: shift(20_099, -3, 30)}
        await db.write_batch(NOTHING, {}, {(TOPIC, 0): 30}, UsageShifts(TOPIC, stale))
        assert await db.load_shifts(TOPIC, [0]) == {0: first[0]}
        # one reaching further replaces it; another group's and topic's are apart
        later = {0: shift(20_101, 2, 26)}
        await db.write_batch(NOTHING, {}, {(TOPIC, 0): 60}, UsageShifts(TOPIC, later))
        assert await db.load_shifts(TOPIC, [0]) == later
        assert await SignalsDb(url, "other").load_shifts(TOPIC, [0]) == {}
        assert await db.load_shifts("other.frames", [0]) == {}
    finally:
        await db.close()


def test_usage_shifts_are_stored_with_their_offsets_and_never_rewound(settings: Settings) -> None:
    asyncio.run(_scenario(settings.database_url))


def test_a_damaged_stored_state_is_refused_when_read(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO usage_shift (consumer_group, topic, kafka_partition, next_offset, state)"
            " VALUES ('g', %s, 0, 1, '{\"day\": 1}')",
            (TOPIC,),
        )

    async def read() -> None:
        db = SignalsDb(settings.database_url, "g")
        try:
            await db.load_shifts(TOPIC, [0])
        finally:
            await db.close()

    with pytest.raises(ValueError, match="damaged usage shift state"):
        asyncio.run(read())


def test_a_state_stored_before_dealer_prices_were_pooled_reads_with_an_empty_pool(
    settings: Settings,
) -> None:
    before = PartitionShift().at_tick(20_100)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO usage_shift (consumer_group, topic, kafka_partition, next_offset, state)"
            " VALUES ('g', %s, 0, 1, %s::jsonb)",
            (TOPIC, json.dumps(before.as_json())),
        )

    async def read() -> dict[int, PartitionState]:
        db = SignalsDb(settings.database_url, "g")
        try:
            return await db.load_shifts(TOPIC, [0])
        finally:
            await db.close()

    assert asyncio.run(read()) == {0: PartitionState(before, DealerPrices())}

"""The journey processor's cache of committed states against real Kafka and PostgreSQL: after a
rebalance, a member reads its vehicles' states back from the store, so the folds another member
made in between count (here: the contacts that exhaust the owner's budget)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from test_journey_owners import FIRST, SECOND, register
from test_journey_runner import query, wait_until, warranty_signal

from kernel.kafka import Topics, make_producer
from kernel.metrics import registry
from kernel.partitioner import partitions_of
from kernel.settings import Settings
from processors.journey import metrics as journey_metrics
from processors.journey.runner import JourneyOptions, run_journey_with

pytestmark = pytest.mark.integration

VINS = (FIRST, SECOND)


def store_reads() -> float:
    name = "journeygate_journey_state_reads_total"
    sample = registry(journey_metrics.STAGE).get_sample_value(name, {"source": "store"})
    return sample or 0.0


async def produce(settings: Settings, day: int, days_left: int, coverage: str) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = Topics.from_settings(settings).signals
        for vin in VINS:
            value = warranty_signal(day, days_left, vin, coverage)
            await (await producer.send(topic, value, key=vin.encode()))
    finally:
        await producer.stop()


async def count(settings: Settings, sql: str, n: int) -> bool:
    return len(await query(settings, sql)) == n


def test_a_member_reads_states_back_after_a_rebalance(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # range assignor: with two members, each vehicle's partition belongs to another member
    first, second = partitions_of([v.encode() for v in VINS], range(settings.kafka_partitions))
    assert settings.kafka_partitions == 4 and first < 2 <= second
    register(settings, {FIRST: None, SECOND: None})
    caplog.set_level(logging.INFO, logger="journeygate.journey")

    def revocations() -> int:
        """Revocations of partitions held (a member's first join revokes none)."""
        return sum("partitions revoked: [(" in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        a = asyncio.create_task(run_journey_with(settings, stop_a, JourneyOptions()))
        try:
            # A alone: each basic warranty 28 days from its end, an early alert each; A keeps
            # both states in its cache
            await produce(settings, 0, 28, "basic")
            await wait_until(lambda: count(settings, "SELECT 1 FROM alerts", 2), "early alerts")
            # B joins: A's partitions are revoked and shared out again, one vehicle to each
            revoked = revocations()
            b = asyncio.create_task(run_journey_with(settings, stop_b, JourneyOptions()))

            async def rebalanced() -> bool:
                return revocations() > revoked

            await wait_until(rebalanced, "a rebalance")
            before = store_reads()
            await produce(settings, 16, 12, "basic")  # the near stage: a second contact each
            await wait_until(lambda: count(settings, "SELECT 1 FROM alerts", 4), "near alerts")
            assert store_reads() - before == 2  # no member served a state from its cache
            # B leaves: A takes both vehicles back, the one B folded included (read from the
            # store: A's own may still come from its cache if A folds it before the rebalance)
            stop_b.set()
            await asyncio.wait_for(b, timeout=30)
            before = store_reads()
            # the powertrain warranty comes within its window 4 days later: both owners had
            # their two contacts in 30 days, so it is suppressed for both
            await produce(settings, 20, 25, "powertrain")
            suppressed = "SELECT 1 FROM journey_events WHERE event = 'suppressed'"
            await wait_until(lambda: count(settings, suppressed, 2), "suppressed alerts")
            assert store_reads() - before >= 1
        finally:
            stop_a.set()
            stop_b.set()
            await asyncio.wait_for(a, timeout=30)
        rows = await query(settings, "SELECT vin, subject, stage FROM alerts")
        assert sorted(rows) == [(v, "basic", s) for v in sorted(VINS) for s in ("early", "near")]
        events = await query(
            settings,
            "SELECT vin, subject, detail FROM journey_events WHERE event = 'suppressed'",
        )
        assert sorted(events) == [(vin, "powertrain", "contact_budget") for vin in sorted(VINS)]

    asyncio.run(scenario())


def test_with_no_cache_every_batch_reads_its_states_back(make_settings: Any) -> None:
    settings = make_settings(journey_cached_vehicles=0)
    register(settings, {FIRST: None, SECOND: None})

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_journey_with(settings, stop, JourneyOptions()))
        try:
            for day, days_left, n in ((0, 28, 2), (16, 12, 4)):
                before = store_reads()
                await produce(settings, day, days_left, "basic")
                await wait_until(lambda n=n: count(settings, "SELECT 1 FROM alerts", n), "alerts")
                assert store_reads() - before == 2  # both vehicles, read back both times
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)

    asyncio.run(scenario())

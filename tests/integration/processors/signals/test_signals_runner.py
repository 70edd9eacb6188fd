"""The signals processor against a real Kafka-protocol broker and PostgreSQL, run in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import pytest
from signals_runner_kit import (
    VINS,
    Ends,
    db_offsets,
    drained,
    ensure_services_topic,
    fleet_frames,
    produce,
    published_signals,
    query,
    register,
    running_signals,
    service_visit,
    services_topic,
    stored_signals,
    vehicle_states,
    wait_until,
)

from kernel import headers as h
from kernel.kafka import Topics
from kernel.metrics import registry
from kernel.settings import Settings
from processors.signals.metrics import STAGE

pytestmark = pytest.mark.integration
# Members join the embedded broker's group after half the session timeout: these tests start
# many processors, so they use a shorter one.
QUICK = {"kafka_session_timeout_ms": 1500, "kafka_heartbeat_interval_ms": 300}


def metric(name: str, **labels: str) -> float:
    value = registry(STAGE).get_sample_value(f"journeygate_signals_{name}", labels or None)
    return value or 0.0


def test_frames_and_a_visit_become_views_signals_and_a_bill_error(settings: Settings) -> None:
    register(settings)
    before = fleet_frames(8)
    after = fleet_frames(4, first_day=8)
    visit = service_visit(VINS[0], 8, 15_250_000, "INV-1001")
    scored = metric("bill_errors_total")

    async def scenario() -> None:
        await ensure_services_topic(settings)
        ends: Ends = {}
        await produce(settings, ends, before)
        async with running_signals(settings) as task:
            await wait_until(lambda: drained(settings, ends), "the first frames", task=task)
            await produce(settings, ends, visits=[visit])
            await wait_until(lambda: drained(settings, ends), "the visit", task=task)
            await produce(settings, ends, after, raw=[(services_topic(settings), b"\x02junk")])
            await wait_until(lambda: drained(settings, ends), "the last frames", task=task)

        states = await vehicle_states(settings)
        assert set(states) == set(VINS)
        civic = states[VINS[0]]
        dealer, as_of, odometer, usage, warranty, service, equity, faults, last, predicted = civic
        assert (
            predicted <= as_of and as_of == fleet_frames(1, first_day=11)[-5].samples[-1].event_ts
        )
        assert dealer == "dealer-1" and odometer == round(15_000_000 + 30_000 * 11.5 + 15_000)
        assert usage["km_per_day"] > 0 and [w["coverage"] for w in warranty] == [
            "basic",
            "powertrain",
        ]
        assert last == {
            "visit_id": "INV-1001",
            "visit_ts": visit.visit_ts.isoformat(),
            "odometer_m": 15_250_000,
        }
        assert service["due_date"] == "2026-03-09" and service["currency"] == "USD"
        assert service["items"][0]["kind"] == "scheduled" and equity["currency"] == "USD"
        assert faults == []  # P0420 cleared by telemetry on day 7 (and repaired at the visit)
        hybrid = states[VINS[1]]
        assert [f["code"] for f in hybrid[7]] == ["P0A80"]
        assert "traction_battery" in [w["coverage"] for w in hybrid[4]]
        assert states[VINS[2]][6]["currency"] == "GBP"
        assert states[VINS[3]][6] is None  # unknown model: no equity
        assert states[VINS[4]][0] is None and states[VINS[4]][5] is None  # unregistered

        stored = await stored_signals(settings)
        kinds = Counter(kind for _, _, kind in stored)
        assert set(kinds) == {"usage", "warranty", "service", "equity", "fault", "quality"}
        quality = await query(
            settings, "SELECT vin, payload->>'reason' FROM signals WHERE kind = 'quality'"
        )
        assert sorted(quality) == [(VINS[3], "unknown_model"), (VINS[4], "unknown_vehicle")]
        published = await published_signals(settings, expected=len(stored))
        assert sorted({p["signal_id"] for p in published}) == [s for s, _, _ in stored]

        (error,) = await query(
            settings,
            "SELECT visit_id, vin, dealer_id, currency, predicted_expected, invoiced,"
            " abs_pct_error, predicted_as_of_ts FROM bill_errors",
        )
        visit_id, vin, _, currency, predicted, invoiced, pct, _ = error
        assert (visit_id, vin, currency, float(invoiced)) == ("INV-1001", VINS[0], "USD", 313.5)
        assert pct == pytest.approx(abs(float(predicted) - 313.5) / 313.5 * 100, abs=1e-3)
        visits = await query(
            settings, "SELECT visit_id, invoiced_amount, items FROM service_visits"
        )
        assert [(v, float(a), len(i)) for v, a, i in visits] == [("INV-1001", 313.5, 3)]
        sizes = await query(settings, "SELECT max(octet_length(state)) FROM signal_state")
        assert 0 < sizes[0][0] <= 2048

        letters = await dead_letters(settings)
        assert [(d[h.HEADER_DLQ_STAGE], d[h.HEADER_DLQ_REASON]) for d in letters] == [
            (b"signals", b"undecodable")
        ]

    asyncio.run(scenario())
    assert metric("bill_errors_total") - scored == 1


async def dead_letters(settings: Settings) -> list[dict[str, bytes]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = Topics.from_settings(settings).dlq
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[dict[str, bytes]] = []
        for _ in range(5):
            for part in (await consumer.getmany(timeout_ms=200)).values():
                out.extend(dict(rec.headers) for rec in part)
        return out
    finally:
        await consumer.stop()


async def run_in_parts(settings: Settings, parts: list[list[Any]], *, crash: bool) -> None:
    """Each part produced, then processed by a fresh processor (``crash``: cancelled, no clean
    stop, and nothing committed to Kafka)."""
    ends: Ends = {}
    for frames in parts:
        await produce(settings, ends, frames)
        async with running_signals(settings, commit_to_kafka=not crash) as task:
            await wait_until(lambda: drained(settings, ends), "a part", task=task)
            if crash:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def test_a_restarted_processor_ends_where_an_uninterrupted_one_does(make_settings: Any) -> None:
    interrupted, whole = make_settings(batch_max_records=40, **QUICK), make_settings(**QUICK)
    frames = fleet_frames(12)
    cut = len(frames) // 3

    async def scenario() -> None:
        for settings in (interrupted, whole):
            register(settings)
            await ensure_services_topic(settings)
        await run_in_parts(interrupted, [frames[:cut], frames[cut:]], crash=True)
        await run_in_parts(whole, [frames], crash=False)
        assert await vehicle_states(interrupted) == await vehicle_states(whole)
        restarted, reference = await stored_signals(interrupted), await stored_signals(whole)
        assert restarted == reference  # the same ids: nothing doubled, nothing missing
        published = await published_signals(interrupted, expected=len(restarted))
        assert Counter(p["signal_id"] for p in published) == Counter(s for s, _, _ in restarted)
        assert set(await db_offsets(interrupted)).isdisjoint(set(await db_offsets(whole)))

    asyncio.run(scenario())


def test_members_joining_and_leaving_fold_each_vehicle_once(make_settings: Any) -> None:
    shared, alone = make_settings(batch_max_records=30, **QUICK), make_settings(**QUICK)
    frames = fleet_frames(15)
    parts = [frames[: len(frames) // 3], frames[len(frames) // 3 : 2 * len(frames) // 3]]
    parts.append(frames[2 * len(frames) // 3 :])

    async def scenario() -> None:
        for settings in (shared, alone):
            register(settings)
            await ensure_services_topic(settings)
        await run_in_parts(alone, [frames], crash=False)
        ends: Ends = {}
        async with contextlib.AsyncExitStack() as stack:
            one = await stack.enter_async_context(running_signals(shared))
            await produce(shared, ends, parts[0])
            await wait_until(lambda: drained(shared, ends), "the first part", task=one)
            async with running_signals(shared) as two:
                await produce(shared, ends, parts[1])
                await wait_until(lambda: drained(shared, ends), "the second part", task=two)
                await stack.aclose()  # the first member leaves; the second takes everything
                await produce(shared, ends, parts[2])
                await wait_until(lambda: drained(shared, ends), "the third part", task=two)
        # Partitions moved between members twice, each vehicle's memory with them: the outcome
        # is that of one member alone.
        assert await vehicle_states(shared) == await vehicle_states(alone)
        assert await stored_signals(shared) == await stored_signals(alone)

    asyncio.run(scenario())


def test_a_market_index_imported_while_running_values_the_vehicles_it_holds(
    make_settings: Any,
) -> None:
    """The registry rows a running processor holds are read again once the registry's version
    moved: a market value index imported mid-stream values the US vehicles at their next
    evaluation, and leaves the GB one as it was."""
    from datetime import date

    from database.market_index import MarketIndex, upsert_market_index

    settings = make_settings()
    register(settings)

    async def values() -> dict[str, float]:
        rows = await query(settings, "SELECT vin, equity FROM vehicle_state")
        return {vin: float(e["value_expected"]) for vin, e in rows if e is not None}

    async def scenario() -> tuple[dict[str, float], dict[str, float]]:
        await ensure_services_topic(settings)
        ends: Ends = {}
        await produce(settings, ends, fleet_frames(3))
        async with running_signals(settings) as task:
            await wait_until(lambda: drained(settings, ends), "the first frames", task=task)
            first = await values()
            index = MarketIndex("US", date(2025, 3, 3), 0.5, "test index")
            upsert_market_index(settings.database_url, [index])
            await produce(settings, ends, fleet_frames(1, first_day=3))  # a new day: evaluated
            await wait_until(lambda: drained(settings, ends), "the next day's frames", task=task)
            return first, await values()

    first, then = asyncio.run(scenario())
    for vin in (VINS[0], VINS[1]):  # US: half the value (a day older barely moves the curve)
        assert then[vin] == pytest.approx(0.5 * first[vin], rel=0.01)
    assert then[VINS[2]] == pytest.approx(first[VINS[2]], rel=0.01)  # GB: no index

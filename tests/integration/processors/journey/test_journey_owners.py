"""The contact budget per owner against real Kafka and PostgreSQL: an owner's two vehicles, on
different partitions, get no more alerts together than the budget, whether one journey member
folds them one after the other (the second reads the first's contacts from the store) or two
members of one consumer group fold them at the same time; vehicles without an owner keep a
budget each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import psycopg
import pytest
from test_journey_runner import published, query, raw_published, wait_until, warranty_signal

from database.registry_file import Finance, VehicleRecord
from database.vehicles import upsert_vehicles
from kernel.kafka import Topics, make_producer
from kernel.partitioner import partitions_of
from kernel.settings import Settings
from processors.journey.runner import JourneyOptions, run_journey_with

pytestmark = pytest.mark.integration

FIRST = "1HGCM82633A004352"
SECOND = "KNDC3DLC5N5012345"
T0 = datetime(2026, 2, 1, tzinfo=UTC)
# Each vehicle: the basic warranty 28 days from its end, then the powertrain 8 days later: two
# alerts each, 8 days apart (the gap is 7): four for two owners, two for one owner (budget 2 in
# 30 days).
PLAN = {FIRST: ((0, "basic"), (8, "powertrain")), SECOND: ((16, "basic"), (24, "powertrain"))}


def register(settings: Settings, owner: dict[str, str | None]) -> None:
    delivery = date(2023, 3, 14)
    upsert_vehicles(
        settings.database_url,
        [
            VehicleRecord(
                vin=vin,
                brand="Honda",
                model="Civic",
                model_year=2023,
                powertrain="ice",
                delivery_date=delivery,
                delivery_odometer_m=0,
                dealer_id="dealer-7",
                market="US",
                currency="USD",
                finance=Finance("cash"),
                consent=(("service_reminders", True), ("marketing_offers", True)),
                consent_at=datetime.combine(delivery, time(), UTC),
                owner_id=owner[vin],
            )
            for vin in PLAN
        ],
        source="test",
    )


async def produce(settings: Settings, vins: list[str]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = Topics.from_settings(settings).signals
        for vin in vins:
            for day, coverage in PLAN[vin]:
                value = warranty_signal(day, 28, vin, coverage)
                await (await producer.send(topic, value, key=vin.encode()))
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def members(settings: Settings, count: int) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_journey_with(settings, stop, JourneyOptions()))
        for _ in range(count)
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


async def folded(settings: Settings, vins: list[str]) -> bool:
    """Every signal of ``vins`` folded (the state's instant is the vehicle's last signal)."""
    rows = await query(settings, "SELECT vin, as_of_ts FROM journey_state")
    last = {vin: T0 + timedelta(days=PLAN[vin][-1][0]) for vin in vins}
    return all(dict(rows).get(vin) == at for vin, at in last.items())


async def alerts(settings: Settings) -> list[tuple[str, datetime]]:
    rows = await query(settings, "SELECT vin, created_ts FROM alerts ORDER BY created_ts")
    return [(str(v), t) for v, t in rows]


def test_the_vehicles_sit_on_partitions_of_different_members(settings: Settings) -> None:
    # range assignor, two members: partitions 0-1 and 2-3
    first, second = partitions_of([v.encode() for v in PLAN], range(settings.kafka_partitions))
    assert settings.kafka_partitions == 4 and first < 2 <= second


def test_one_member_folds_an_owners_second_vehicle_against_the_first_ones_contacts(
    settings: Settings,
) -> None:
    register(settings, {FIRST: "owner-1", SECOND: "owner-1"})

    async def scenario() -> None:
        await produce(settings, [FIRST])
        async with members(settings, 1):
            await wait_until(lambda: folded(settings, [FIRST]), "first vehicle folded")
        assert [v for v, _ in await alerts(settings)] == [FIRST, FIRST]
        await produce(settings, [SECOND])
        async with members(settings, 1):
            await wait_until(lambda: folded(settings, [SECOND]), "second vehicle folded")
        assert [v for v, _ in await alerts(settings)] == [FIRST, FIRST]
        held = await query(
            settings,
            "SELECT detail FROM journey_events WHERE vin = %s AND event = 'suppressed'",
            (SECOND,),
        )
        assert held and {d for (d,) in held} <= {"contact_budget", "min_gap"}
        contacts = await query(
            settings,
            "SELECT owner_id, vin, contact_ts, alert_id IS NOT NULL FROM owner_contacts"
            " ORDER BY contact_ts",
        )
        assert contacts == [
            ("owner-1", FIRST, T0, True),
            ("owner-1", FIRST, T0 + timedelta(days=8), True),
        ]

    asyncio.run(scenario())


def test_two_members_hold_an_owners_vehicles_on_different_partitions_to_one_budget(
    settings: Settings,
) -> None:
    register(settings, {FIRST: "owner-1", SECOND: "owner-1"})

    async def scenario() -> None:
        async with members(settings, 2):
            await produce(settings, [FIRST, SECOND])
            await wait_until(lambda: folded(settings, [FIRST, SECOND]), "both folded", 60)
        raised = await alerts(settings)
        assert len(raised) == 2, raised  # the owner's budget, whichever member went first
        assert raised[1][1] - raised[0][1] >= timedelta(days=7)
        stored = await query(settings, "SELECT count(*) FROM owner_contacts")
        assert stored == [(2,)]
        # published through the outbox after each commit: the stored alerts, and nothing else
        assert await query(settings, "SELECT count(*) FROM journey_outbox") == [(0,)]
        ids = {str(a) for (a,) in await query(settings, "SELECT alert_id FROM alerts")}
        sent = [m for _, m in await published(settings, 2) if m.action == "raised"]
        assert sorted(m.alert_id for m in sent) == sorted(ids)

    asyncio.run(scenario())


def test_vehicles_without_an_owner_keep_a_budget_each(settings: Settings) -> None:
    register(settings, {FIRST: None, SECOND: None})

    async def scenario() -> None:
        await produce(settings, [FIRST, SECOND])
        async with members(settings, 1):
            await wait_until(lambda: folded(settings, [FIRST, SECOND]), "both folded")
        assert sorted(v for v, _ in await alerts(settings)) == [FIRST, FIRST, SECOND, SECOND]
        assert await query(settings, "SELECT count(*) FROM owner_contacts") == [(0,)]

    asyncio.run(scenario())


def test_records_a_crashed_member_left_in_the_outbox_are_published_at_the_next_start(
    settings: Settings,
) -> None:
    """A member that committed a batch and died before publishing it leaves its records in
    ``journey_outbox``: the next member to start publishes them (in order) and empties it."""
    records = [(b"dealer-7", f"value-{n}".encode(), f"{FIRST}:ep:{n}") for n in range(3)]
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for key, value, alert_id in records:
            conn.execute(
                "INSERT INTO journey_outbox (record_key, record_value, alert_id)"
                " VALUES (%s, %s, %s)",
                (key, value, alert_id),
            )

    async def scenario() -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
        async with members(settings, 1):
            await wait_until(
                lambda: empty_outbox(settings), "outbox published and emptied", timeout_s=30
            )
        return [(r.key, r.value, list(r.headers)) for r in await raw_published(settings, 3)]

    got = asyncio.run(scenario())
    assert [(k, v, dict(h)["alert_id"].decode()) for k, v, h in got] == records


async def empty_outbox(settings: Settings) -> bool:
    return await query(settings, "SELECT count(*) FROM journey_outbox") == [(0,)]

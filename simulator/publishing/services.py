"""Service visits on Kafka: dealer visits as ``vehicle.services`` records.

What a dealer system would send after each visit it invoiced: key = VIN, value = Avro
``ServiceVisit`` (``schemas/service_visit.avsc``, :class:`~schemas.services.ServiceVisitCodec`).
Only visits **at a dealer** are sent; a visit to an independent garage stays invisible, as in
life. Two sets are published: the vehicle's **service history** at its dealer, the visits of the
last ``publish.service_history_years`` years before the period (:func:`history_records`, sent
before the period's telemetry, as a dealer system already holds them), and the visits **of the
period** (:func:`visit_records`, sent after it). Amounts are what the owner paid (a line the
warranty paid is 0), converted from US dollars to the market's currency (``usd * per_usd *
price_level``) and rounded to cents. ``visit_id`` is deterministic (``SIM-{vin}-{ts_ms}``), so
publishing the same run again repeats the same ids.

:func:`visit_records` and :func:`history_records` are pure; :func:`publish_visits` does the I/O
(``journeygate services import`` publishes with it too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from aiokafka.errors import KafkaError

from kernel.errors import InfrastructureError
from kernel.kafka import VEHICLE_SERVICES, ensure_topics, make_producer, start_client
from kernel.settings import Settings
from reference.catalog import Market
from schemas.services import ServiceItem, ServiceVisitCodec, ServiceVisitRecord
from simulator.publishing.plan import Plan
from simulator.world.events import ServiceVisit
from simulator.world.invoices import add_years
from simulator.world.prices import DEALER
from simulator.world.usage import day_start_ms, from_ms, to_ms


@dataclass(frozen=True, slots=True)
class Delivered:
    """A visit Kafka acknowledged, and where it landed."""

    record: ServiceVisitRecord
    topic: str
    partition: int
    offset: int


def visit_record(visit: ServiceVisit, market: Market) -> ServiceVisitRecord:
    """The ``vehicle.services`` record of a dealer visit, in ``market``'s currency."""
    if visit.dealer_id is None:
        raise ValueError(f"visit {visit.visit_id} was not at a dealer")
    items = tuple(
        ServiceItem(
            kind=i.kind,
            code=i.code,
            description=i.item
            if i.covered_by is None
            else f"{i.item} (covered by the {i.covered_by} warranty)",
            amount=round(i.cost_usd * market.factor, 2),
        )
        for i in visit.items
    )
    return ServiceVisitRecord(
        visit_id=visit.visit_id,
        vin=visit.vin,
        visit_ts=from_ms(visit.ts_ms),
        odometer_m=visit.odometer_m,
        dealer_id=visit.dealer_id,
        currency=market.currency,
        items=items,
    )


def _dealer_visits_between(plan: Plan, from_ms: int, until_ms: int) -> list[ServiceVisit]:
    """The dealer visits with ``from_ms <= ts_ms <= until_ms``, in time order (then VIN)."""
    visits = [
        e
        for t in plan.vehicles
        for e in t.events
        if isinstance(e, ServiceVisit) and e.where == DEALER and from_ms <= e.ts_ms <= until_ms
    ]
    return sorted(visits, key=lambda v: (v.ts_ms, v.vin))


def dealer_visits(plan: Plan, until_ms: int) -> list[ServiceVisit]:
    """The dealer visits from the period's start to ``until_ms``, in time order (then VIN)."""
    return _dealer_visits_between(plan, to_ms(plan.start), until_ms)


def history_since(plan: Plan, years: int) -> date:
    """The first day of the published service history: ``years`` before the period's start."""
    return add_years(plan.start.date(), -years)


def history_visits(plan: Plan, years: int) -> list[ServiceVisit]:
    """The dealer visits before the period's start, from :func:`history_since` on (none when
    ``years`` is 0), in time order (then VIN). A visit on the period's first day before its
    start time (05:00 when the period starts later in the day) belongs to the history."""
    if years <= 0:
        return []
    since_ms = day_start_ms(history_since(plan, years))
    return _dealer_visits_between(plan, since_ms, to_ms(plan.start) - 1)


def _records(plan: Plan, visits: Sequence[ServiceVisit]) -> list[ServiceVisitRecord]:
    if plan.market is None:
        raise ValueError("the plan has no market")
    return [visit_record(v, plan.market) for v in visits]


def visit_records(plan: Plan, until_ms: int) -> list[ServiceVisitRecord]:
    """What the run publishes on ``vehicle.services`` when its telemetry reached ``until_ms``."""
    return _records(plan, dealer_visits(plan, until_ms))


def history_records(plan: Plan, years: int) -> list[ServiceVisitRecord]:
    """The service history the run publishes on ``vehicle.services`` before its telemetry:
    the dealer visits of the ``years`` before the period (:func:`history_visits`)."""
    return _records(plan, history_visits(plan, years))


def services_topic(settings: Settings) -> str:
    return settings.topic(VEHICLE_SERVICES)


def prepare_services_topic(settings: Settings) -> str:
    """Create ``vehicle.services`` if it is missing; :class:`InfrastructureError` when Kafka
    cannot be reached. Returns the topic's name."""
    topic = services_topic(settings)
    asyncio.run(ensure_topics(settings, [topic]))
    return topic


def publish_visits(settings: Settings, records: Sequence[ServiceVisitRecord]) -> list[Delivered]:
    """Publish ``records`` (key = VIN) and wait until Kafka has acknowledged every one."""
    topic = prepare_services_topic(settings)
    if not records:
        return []
    return asyncio.run(_produce(settings, topic, records))


async def _produce(
    settings: Settings, topic: str, records: Sequence[ServiceVisitRecord]
) -> list[Delivered]:
    codec = ServiceVisitCodec()
    producer = make_producer(settings, client_id="journeygate-services")
    await start_client(producer, settings)
    try:
        futures = [await producer.send(topic, codec.encode(r), key=r.vin.encode()) for r in records]
        sent = await asyncio.gather(*futures)
    except KafkaError as exc:
        raise InfrastructureError(
            f"publishing service visits to {topic} on {settings.kafka_bootstrap} failed: {exc}"
        ) from exc
    finally:
        await producer.stop()
    return [
        Delivered(r, topic, int(meta.partition), int(meta.offset))
        for r, meta in zip(records, sent, strict=True)
    ]

"""The journey processor's I/O loop: vehicle.signals + vehicle.services + vehicle.consent ->
dealer.alerts and the journey store, exactly once into PostgreSQL.

One cycle: poll a bounded batch from the three topics, decode it (undecodable records to
telemetry.dlq), load the batch's vehicle states (those this member committed since its
partitions were last revoked from its cache, :mod:`.cache`; the others from the store) and
registry rows (dealer, consent in force; a registry consent newer than the state's is folded as
a consent change, so an import that did not publish still hides and stops alerts) and the states
of the vehicles of the batch's partitions whose next timed evaluation (``journey_state.wake_ts``)
the batch's event time in that partition passed, fold the batch (pure, :mod:`.logic`), publish
the dead letters and the alert records (keyed by dealer, header ``alert_id``) and wait for Kafka's
acknowledgement, then write states, timeline, alerts and next offsets in one transaction. A crash
before the commit replays the batch from the stored offsets and states: the same alert ids,
stored once (a consumer of dealer.alerts keeps the latest record per alert_id).

The contact budget is per owner (docs/journey.md, "Alerts"). A batch whose vehicles all are their
own owners, or the only vehicle of theirs, takes the path above. A batch with vehicles of an
owner of several vehicles (possibly on other partitions, folded by other members) opens its
transaction first: it locks those owners (advisory locks in key order), reads their contacts
(``owner_contacts``), folds and writes; each alert to a vehicle with an owner is recorded in
``owner_contacts`` in the batch's transaction. Such a batch's decisions depend on other members'
batches, so a replay after a crash may decide otherwise: its records of dealer.alerts go to the
outbox (``journey_outbox``) in its transaction and are published after the commit, never before
(:meth:`_Loop.drain`: also at start and before each such batch, for rows a crashed member left,
so that an alert's records keep their order).

The three topics are keyed by VIN and must have the same number of partitions (range assignor:
one member folds all of a vehicle's inputs).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError

from database.db import wait_for_store
from database.offsets import load_offsets
from kernel.errors import InfrastructureError
from kernel.health import readiness
from kernel.kafka import (
    OutRecord,
    Topics,
    dlq_headers,
    ensure_topics_until_stopped,
    make_consumer,
    make_producer,
    poll_batch_first,
    send_batches,
    start_clients_until_stopped,
    stop_client,
)
from kernel.lru import RegistryCache
from kernel.native import summary
from kernel.offsets import OffsetListener, Partition
from kernel.retry import Backoff, Stopped, retry_until_stopped
from kernel.settings import Settings
from processors.journey.alerts import when
from processors.journey.cache import StateCache
from processors.journey.db import JourneyDb, Outgoing, Registered, Writer
from processors.journey.gates import MS_PER_DAY
from processors.journey.logic import (
    BatchOutcome,
    Decoded,
    Decoders,
    Owners,
    Rejected,
    decode_batch,
    process_batch,
)
from processors.journey.machine import Alert, AlertChange
from processors.journey.metrics import JourneyMetrics
from processors.journey.rules import Rules, load_rules
from processors.journey.state import VehicleJourney
from schemas.alerts import AlertCodec, AlertDetail, AlertMessage
from schemas.consent import ConsentCodec, consent_change
from schemas.services import ServiceVisitCodec
from schemas.signals import SignalCodec

log = logging.getLogger("journeygate.journey")

GROUP = "journeygate-journey"
STAGE = "journey"
HEADER_ALERT_ID = "alert_id"
_DB_FAILURES = (psycopg.OperationalError, psycopg.InterfaceError, InfrastructureError)


WAKE_LIMIT = 5_000
"""At most this many vehicles woken per batch (the rest in the next batches)."""


def retry_backoff() -> Backoff:
    return Backoff(0.1, 10.0)


@dataclass(slots=True)
class _Batch:
    """A batch ready to fold: its inputs, the states (mutated by the fold), the woken vehicles'
    horizons and the owners."""

    decoded: Decoded
    states: dict[str, VehicleJourney]
    woken: dict[str, int]
    owners: Owners
    used: bool = field(default=False, compare=False)
    """Folded once already (a retry loads the states again)."""


@dataclass(frozen=True, slots=True)
class JourneyOptions:
    group: str = GROUP
    commit_to_kafka: bool = True
    rules_path: Path | None = None
    """Alert rules file; None: the shipped defaults (processors/journey/alert_rules.toml)."""


async def run_journey(settings: Settings, stop: asyncio.Event) -> None:
    await run_journey_with(settings, stop, JourneyOptions())


async def run_journey_with(
    settings: Settings, stop: asyncio.Event, options: JourneyOptions
) -> None:
    rules = load_rules(options.rules_path)
    log.info("core modules compiled: %s", summary(Path(__file__).parent))
    topics = Topics.from_settings(settings)
    group = settings.topic(options.group)
    inputs = [topics.signals, topics.services, topics.consent]
    ready = readiness(STAGE)
    ready.require("kafka", f"not connected to Kafka at {settings.kafka_bootstrap} yet")
    ready.require("postgresql", "not connected to PostgreSQL yet")
    ready.require("partitions", "no partitions assigned yet")
    try:
        await ensure_topics_until_stopped(
            settings,
            [*inputs, topics.alerts, topics.dlq],
            stop,
            logger=log,
            on_failure=lambda exc: ready.unmet("kafka", str(exc)),
        )
    except Stopped:
        return
    db = JourneyDb(settings.database_url, group)
    consumer = make_consumer(
        settings,
        group,
        max_poll_records=settings.batch_max_records,
        partition_assignment_strategy=(RangePartitionAssignor,),
    )
    producer = make_producer(settings)
    metrics = JourneyMetrics()
    lock = asyncio.Lock()
    loop = _Loop(settings, options, topics, rules, db, consumer, producer, metrics)
    listener = OffsetListener(
        consumer,
        lambda names: load_offsets(settings.database_url, group, names),
        batch_lock=lock,
        stop=stop,
        backoff=retry_backoff,
        retriable=(psycopg.OperationalError, InfrastructureError),
        logger=log,
        on_db_retry=metrics.db_retry,
        readiness=ready,
        on_revoked=loop.cache.clear,  # another member may fold those vehicles next
    )
    try:
        await wait_for_store(db.connection, ready, stop, log)
        consumer.subscribe(inputs, listener=listener)
        # the consumer's start joins the group
        await start_clients_until_stopped((producer, consumer), settings, stop, ready, log)
        await loop.drain(stop)  # what a member that crashed after its commit left
        await loop.run(stop, lock, listener)
    except Stopped:
        log.info("stopped while retrying; the batch in flight will be read again")
    finally:
        await stop_client(consumer, log)
        await stop_client(producer, log)
        await db.close()


class _Loop:
    def __init__(
        self,
        settings: Settings,
        options: JourneyOptions,
        topics: Topics,
        rules: Rules,
        db: JourneyDb,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        metrics: JourneyMetrics,
    ) -> None:
        self.settings, self.options, self.topics, self.rules = settings, options, topics, rules
        self.db, self.consumer, self.producer, self.metrics = db, consumer, producer, metrics
        consent = ConsentCodec()
        self.decoders = Decoders(
            topics.signals,
            topics.services,
            SignalCodec().decode_signal,
            ServiceVisitCodec().decode,
            consent.decode,
        )
        self.alert_codec = AlertCodec()
        self.cache = StateCache(settings.journey_cached_vehicles)
        self.registry: RegistryCache[Registered] = RegistryCache(settings.journey_cached_vehicles)

    async def run(self, stop: asyncio.Event, lock: asyncio.Lock, listener: OffsetListener) -> None:
        s = self.settings
        while not stop.is_set():
            generation = listener.generation
            # visits and consent changes published before signals are read before them
            records = await poll_batch_first(
                self.consumer,
                (self.topics.services, self.topics.consent),
                s.batch_max_records,
                s.batch_max_wait_ms,
            )
            listener.raise_if_failed()
            if not records:
                continue
            async with lock:
                if listener.generation != generation:
                    log.info("dropping %d records polled across a rebalance", len(records))
                    polled = {TopicPartition(r.topic, r.partition) for r in records}
                    await listener.position(sorted(polled & self.consumer.assignment()))
                    continue
                offsets = await self.handle(records, stop)
            await self.after_commit(offsets)

    async def handle(self, records: Sequence[Any], stop: asyncio.Event) -> Mapping[Partition, int]:
        started = time.perf_counter()
        decoded = decode_batch(records, self.decoders)
        self.metrics.consumed(decoded.counts)
        batch = await self.retry(lambda: self._load(decoded), stop, "reading states")
        if not batch.owners.shared:
            outcome = self.compute(batch)
            await self.publish(decoded.rejected, outcome, stop)
            result: dict[Partition, int] = await self.retry(
                lambda: self.db.write_batch(outcome, decoded.next_offsets), stop, "writing a batch"
            )
            self.cache.put(outcome.states)
            self.metrics.alerts_stored(
                time.time_ns() // 1_000_000, (a.at_ms for a in outcome.alerts)
            )
        else:
            result = await self.retry(
                lambda: self._shared(decoded, batch, stop), stop, "writing a batch"
            )
        self.metrics.committed(len(records), time.perf_counter() - started)
        return result

    async def _load(self, decoded: Decoded) -> _Batch:
        """The states of the batch's vehicles and of those woken by time, and their owners."""
        vins = decoded.vins
        stored, registry = ({}, {}) if not vins else await self._states(vins)
        decoded = _with_registry(decoded, stored, registry, vins)
        states = {v: stored.get(v) or _fresh(v, registry.get(v)) for v in vins}
        woken = await self.db.load_woken(decoded.watermarks, vins, WAKE_LIMIT)
        states.update({v: w.state for v, w in woken.items()})
        of = {v: r.owner_id for v, r in registry.items() if r.owner_id is not None}
        of.update({v: w.owner_id for v, w in woken.items() if w.owner_id is not None})
        shared = {r.owner_id for r in registry.values() if r.shared and r.owner_id is not None}
        shared |= {w.owner_id for w in woken.values() if w.shared and w.owner_id is not None}
        until = {v: w.until_ms for v, w in woken.items()}
        return _Batch(decoded, states, until, Owners(of, frozenset(shared)))

    async def _states(
        self, vins: list[str]
    ) -> tuple[dict[str, VehicleJourney], dict[str, Registered]]:
        """The vehicles' states (committed ones from the cache, the others from the store) and
        registry rows."""
        states = self.cache.take(vins)
        rest = [v for v in vins if v not in states]
        if rest:
            states.update(await self.db.load_states(rest))
        self.metrics.state_reads(len(vins) - len(rest), len(rest))
        self.registry.at_version(await self.db.registry_version())  # before the rows
        registry, unknown = self.registry.get(vins)
        if unknown:
            read = await self.db.load_registry(unknown)
            self.registry.put(unknown, read)
            registry.update(read)
        self.metrics.registry_reads(len(vins) - len(unknown), len(unknown))
        return states, registry

    def compute(self, batch: _Batch) -> BatchOutcome:
        computing = time.perf_counter()
        outcome = process_batch(batch.decoded, batch.states, self.rules, batch.woken, batch.owners)
        self.metrics.computed(time.perf_counter() - computing)
        return outcome

    async def _shared(
        self, decoded: Decoded, first: _Batch, stop: asyncio.Event
    ) -> dict[Partition, int]:
        """A batch with vehicles of owners of several vehicles (who may sit on other partitions
        and other members): loaded again if this is a retry (the fold mutates the states), then
        folded, published and written in one transaction holding the owners' locks."""
        batch = first if not first.used else await self._load(decoded)
        batch.used = True
        owners = sorted(batch.owners.shared)
        shared = [v for v in batch.states if batch.owners.owner(v) is not None]
        since = min(batch.states[v].as_of_ms for v in shared) - self._window_ms

        raised: list[int] = []
        folded: dict[str, VehicleJourney] = {}

        async def work(
            contacts: Mapping[str, tuple[tuple[str, int], ...]], write: Writer
        ) -> dict[Partition, int]:
            outcome = self.compute(replace(batch, owners=replace(batch.owners, contacts=contacts)))
            await self.publish(decoded.rejected, outcome, stop, alerts=False)
            raised[:] = [a.at_ms for a in outcome.alerts]
            folded.clear()
            folded.update(outcome.states)
            return await write(outcome, decoded.next_offsets, self.alert_records(outcome))

        await self.drain(stop)
        result = await self.db.in_owners_transaction(owners, since, work)
        self.cache.put(folded)
        await self.drain(stop)
        self.metrics.alerts_stored(time.time_ns() // 1_000_000, raised)
        return result

    async def drain(self, stop: asyncio.Event) -> None:
        """Publish what the outbox holds (see the module docstring), retrying while Kafka or
        PostgreSQL fails."""

        async def send(rows: Sequence[Outgoing]) -> None:
            records = [_record(r) for r in rows]
            await asyncio.gather(*await send_batches(self.producer, self.topics.alerts, records))

        await retry_until_stopped(
            lambda: self.db.drain_outbox(send),
            retriable=(KafkaError, *_DB_FAILURES),
            stop=stop,
            what="publishing the outbox",
            backoff=retry_backoff(),
            on_retry=self.metrics.kafka_retry,
            logger=log,
        )

    @property
    def _window_ms(self) -> int:
        return self.rules.contact.budget_window_days * MS_PER_DAY

    def alert_records(self, outcome: BatchOutcome) -> list[Outgoing]:
        """The batch's records of dealer.alerts: alerts raised, then alerts changed."""
        messages = [_raised(a) for a in outcome.alerts] + [_changed(c) for c in outcome.changes]
        return [
            Outgoing(m.dealer_id.encode(), self.alert_codec.encode(m), m.alert_id) for m in messages
        ]

    async def publish(
        self,
        rejected: Sequence[Rejected],
        outcome: BatchOutcome,
        stop: asyncio.Event,
        *,
        alerts: bool = True,
    ) -> None:
        """Send the dead letters and (``alerts``) the records of dealer.alerts."""
        letters = [_dead_letter(r) for r in rejected]
        records = [_record(r) for r in self.alert_records(outcome)] if alerts else []

        async def send() -> None:
            deliveries = await send_batches(self.producer, self.topics.dlq, letters)
            deliveries += await send_batches(self.producer, self.topics.alerts, records)
            await asyncio.gather(*deliveries)

        if letters or records:
            await retry_until_stopped(
                send,
                retriable=(KafkaError,),
                stop=stop,
                what="publishing alerts",
                backoff=retry_backoff(),
                on_retry=self.metrics.kafka_retry,
                logger=log,
            )
        for r in rejected:
            self.metrics.dead_lettered(r.reason)
        self.metrics.published(
            (a.alert_type for a in outcome.alerts),
            (c.action for c in outcome.changes),
            (e.event for e in outcome.events),
        )

    async def retry(self, operation: Any, stop: asyncio.Event, what: str) -> Any:
        return await retry_until_stopped(
            operation,
            retriable=_DB_FAILURES,
            stop=stop,
            what=what,
            backoff=retry_backoff(),
            on_retry=self.metrics.db_retry,
            logger=log,
        )

    async def after_commit(self, offsets: Mapping[Partition, int]) -> None:
        self.metrics.positions(offsets, lambda t, p: self.consumer.highwater(TopicPartition(t, p)))
        committed = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        if not (self.options.commit_to_kafka and committed):
            return
        try:
            await self.consumer.commit(committed)
        except KafkaError as exc:
            self.metrics.kafka_commit_failed()
            log.warning("informational Kafka offset commit failed: %s", exc)


def _fresh(vin: str, reg: Registered | None) -> VehicleJourney:
    j = VehicleJourney(vin)
    if reg is not None:
        j.dealer_id = reg.dealer_id
    return j


def _with_registry(
    decoded: Decoded,
    stored: Mapping[str, VehicleJourney],
    registry: Mapping[str, Registered],
    vins: Sequence[str] | None = None,
) -> Decoded:
    """``decoded`` with, first, a consent change for each registry consent newer than the
    vehicle's state knows and different from it (imports that published nothing, e.g. the
    simulator's registry; a later change to the same consent changes nothing, as in
    :func:`~processors.journey.machine.step`, and would come back with every batch).
    ``vins``: ``decoded.vins``, if at hand."""
    extra = []
    for vin in decoded.vins if vins is None else vins:
        reg = registry.get(vin)
        if reg is None:
            continue
        state = stored.get(vin)
        known = state.consent if state is not None else {}
        news = [
            (purpose, c)
            for purpose, c in reg.consent.items()
            if (k := known.get(purpose)) is None
            or (c.changed_ms > k.changed_ms and c.granted != k.granted)
        ]
        for purpose, c in sorted(news, key=lambda n: n[0]):
            extra.append(consent_change(vin, purpose, c.granted, when(c.changed_ms), "registry"))
    if not extra:
        return decoded
    return replace(decoded, inputs=(*extra, *decoded.inputs))


def _raised(a: Alert) -> AlertMessage:
    detail = AlertDetail(
        a.reason, a.action, when(a.expires_ms), a.episode_id, a.cause_id, a.figures
    )
    return AlertMessage(
        a.alert_id, "raised", a.vin, a.dealer_id, a.alert_type, a.stage, a.purpose, a.severity,
        a.priority, when(a.at_ms), detail,
    )  # fmt: skip


def _changed(c: AlertChange) -> AlertMessage:
    a = c.alert
    return AlertMessage(
        a.alert_id, c.action, _vin_of(a.alert_id), a.dealer_id, a.alert_type, a.stage, a.purpose,
        a.severity, a.priority, when(c.at_ms), None,
    )  # fmt: skip


def _record(out: Outgoing) -> OutRecord:
    """A record of dealer.alerts: keyed by dealer, the alert id in a header."""
    return OutRecord(
        key=out.key, value=out.value, headers=[(HEADER_ALERT_ID, out.alert_id.encode())]
    )


def _vin_of(alert_id: str) -> str:
    return alert_id.split(":", 1)[0]


def _dead_letter(rej: Rejected) -> OutRecord:
    rec = rej.record
    headers = dlq_headers(
        stage=STAGE,
        reason=rej.reason,
        detail=rej.detail,
        source_topic=rec.topic,
        source_partition=rec.partition,
        source_offset=rec.offset,
        original=list(rec.headers),
    )
    return OutRecord(key=rec.key, value=rec.value or b"", headers=headers)

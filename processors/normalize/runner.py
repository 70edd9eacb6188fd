"""The normalizer process: ``telemetry.raw`` → ``telemetry.frames`` + ``telemetry.dlq``.

Per batch: validate (pure), reload the registry if the policy asks, plan the outputs (pure),
produce them all, wait until Kafka acknowledged every one, and only then commit the consumed
offsets (at-least-once; frames carry deterministic ids). Kafka and PostgreSQL failures are
infrastructure: at start-up the stage waits for both with backoff, the registry load is retried
with backoff until it succeeds or the stage is stopped; a produce that fails after the client's
own retries stops the stage with :class:`InfrastructureError` and nothing of the batch is
committed. A stop lets the batch in hand finish for up to :data:`DRAIN_S`, then abandons it
uncommitted. Readiness (:mod:`kernel.health`): Kafka reached, registry loaded, partitions
assigned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from database.registry import VehicleRegistry
from kernel.errors import InfrastructureError
from kernel.headers import HEADER_EVENT_TS_MS, HEADER_FRAME_ID, HEADER_INGEST_TS_MS
from kernel.health import Readiness, readiness
from kernel.kafka import (
    OutRecord,
    SourceRecord,
    Topics,
    dlq_headers,
    ensure_topics_until_stopped,
    make_consumer,
    make_producer,
    send_batches,
    start_client_until_stopped,
    startup_backoff,
    stop_client,
)
from kernel.retry import Backoff, Stopped, retry_until_stopped, until_stopped, wait_until_up
from kernel.settings import Settings
from processors.normalize import logic
from processors.normalize.dedupe import DedupeWindow
from processors.normalize.logic import BatchPlan, DeadLetterOut, FrameOut
from processors.normalize.metrics import NormalizeMetrics
from processors.normalize.validate import Rules
from schemas.codec import FrameCodec

STAGE = "normalize"
GROUP = "journeygate-normalize"
# Registry loads are retried after 0.5 s, doubling up to 30 s.
REGISTRY_RETRY_BASE_S = 0.5
REGISTRY_RETRY_MAX_S = 30.0
# After a stop, the batch in hand may take this long to be produced and committed.
DRAIN_S = 5.0

log = logging.getLogger("journeygate.normalize")


def group_id(settings: Settings) -> str:
    """The consumer group: ``journeygate-normalize`` under the deployment's topic prefix."""
    return f"{settings.topic_prefix}{GROUP}"


class _ForgetOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Clears the dedupe window when partitions move, so stale windows never count false gaps;
    reports whether partitions are assigned as the stage's readiness."""

    def __init__(self, window: DedupeWindow, ready: Readiness) -> None:
        self._window = window
        self._ready = ready

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._window.clear()
        self._ready.unmet("partitions", "rebalancing")

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._ready.set("partitions", bool(assigned), "no partitions assigned")


async def run_normalizer(settings: Settings, stop: asyncio.Event) -> None:
    """Run the normalizer until ``stop`` is set; the batch in hand is finished first."""
    stage = _Normalizer(settings)
    try:
        await stage.run(stop)
    except Stopped:
        log.info("stopped while waiting for a server; the batch in hand was left uncommitted")


class _Normalizer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.rules = Rules.from_settings(settings)
        self.registry = VehicleRegistry(settings.database_url)
        self.window = DedupeWindow()
        self.codec = FrameCodec()
        self.metrics = NormalizeMetrics()
        self.consumer: AIOKafkaConsumer = make_consumer(settings, group_id(settings))
        self.producer: AIOKafkaProducer = make_producer(settings)
        self.ready = readiness(STAGE)

    async def run(self, stop: asyncio.Event) -> None:
        ready = self.ready
        ready.require("kafka", f"not connected to Kafka at {self.settings.kafka_bootstrap} yet")
        ready.require("postgresql", "vehicle registry not loaded yet")
        ready.require("partitions", "no partitions assigned yet")

        def kafka_down(exc: BaseException) -> None:
            ready.unmet("kafka", str(exc))

        try:
            # Servers not up yet (a cold start of the whole deployment): wait for them.
            topics = [self.topics.raw, self.topics.frames, self.topics.receipts, self.topics.dlq]
            await ensure_topics_until_stopped(
                self.settings, topics, stop, logger=log, on_failure=kafka_down
            )
            for client in (self.producer, self.consumer):
                await start_client_until_stopped(
                    client, self.settings, stop, logger=log, on_failure=kafka_down
                )
                ready.met("kafka")
            registered = await wait_until_up(
                self.registry.load,
                retriable=(InfrastructureError,),
                stop=stop,
                what="loading the vehicle registry",
                backoff=startup_backoff(),
                on_failure=lambda exc: ready.unmet("postgresql", str(exc)),
                logger=log,
            )
            self.metrics.registry_loaded(registered)
            ready.met("postgresql")
            self.consumer.subscribe([self.topics.raw], listener=_ForgetOnRevoke(self.window, ready))
            while not stop.is_set():
                try:
                    batch = await self.consumer.getmany(
                        timeout_ms=self.settings.batch_max_wait_ms,
                        max_records=self.settings.batch_max_records,
                    )
                except KafkaError as exc:
                    raise InfrastructureError(f"consuming {self.topics.raw} failed: {exc}") from exc
                records = [msg for msgs in batch.values() for msg in msgs]
                if records:
                    await until_stopped(self.handle(records, stop), stop, DRAIN_S)
        finally:
            await stop_client(self.consumer, log)
            await stop_client(self.producer, log)
            await self.registry.close()

    async def handle(self, records: list[SourceRecord], stop: asyncio.Event) -> None:
        outcomes = logic.validate_batch(records, self.rules)
        unknown = logic.unknown_vin_ingest_times(records, outcomes, self.registry.vins)
        if unknown and logic.should_refresh(
            unknown,
            self.registry.loaded_at_ms,
            now_ms=int(time.time() * 1000),
            min_interval_ms=int(self.settings.registry_refresh_min_s * 1000),
        ):
            await self.load_registry(stop)
            self.ready.met("postgresql")
        plan = logic.plan_batch(records, outcomes, self.registry.vins, self.window, self.codec)
        await self.produce(plan)
        await self.commit(plan.next_offsets)
        self.metrics.batch(len(records), plan)

    async def load_registry(self, stop: asyncio.Event) -> None:
        """Reload the registry, retrying while it is unreachable; :class:`Stopped` on stop."""
        registered = await retry_until_stopped(
            self.registry.load,
            retriable=(InfrastructureError,),
            stop=stop,
            what="loading the vehicle registry",
            backoff=Backoff(REGISTRY_RETRY_BASE_S, REGISTRY_RETRY_MAX_S),
            on_retry=self._registry_load_failed,
            logger=log,
        )
        self.metrics.registry_loaded(registered)

    def _registry_load_failed(self) -> None:
        self.metrics.registry_load_failed()
        self.ready.unmet("postgresql", "the vehicle registry cannot be loaded")

    async def produce(self, plan: BatchPlan) -> None:
        """Send every output, then wait until Kafka acknowledged all of them.

        Frames go out as one batch per partition; dead letters (rare) one by one. Receipts go
        after Kafka acknowledged the dead letters they vouch for (they say "durably handled").
        """
        frames = [
            OutRecord(
                out.key,
                out.value,
                [
                    (HEADER_FRAME_ID, out.frame_id.encode()),
                    (HEADER_INGEST_TS_MS, str(out.ingest_ts_ms).encode()),
                    (HEADER_EVENT_TS_MS, str(out.event_ts_ms).encode()),
                ],
            )
            for out in plan.outputs
            if isinstance(out, FrameOut)
        ]
        try:
            futures = await send_batches(self.producer, self.topics.frames, frames)
            for out in plan.outputs:
                if isinstance(out, DeadLetterOut):
                    futures.append(await self._send_dead_letter(out))
            await asyncio.gather(*futures)
            if plan.receipts:
                await asyncio.gather(
                    *await send_batches(self.producer, self.topics.receipts, plan.receipts)
                )
        except KafkaError as exc:
            raise InfrastructureError(f"producing normalizer output failed: {exc!r}") from exc

    async def _send_dead_letter(self, out: DeadLetterOut) -> asyncio.Future[Any]:
        rec = out.record
        headers = dlq_headers(
            stage=STAGE,
            reason=out.reason.value,
            detail=out.detail,
            source_topic=rec.topic,
            source_partition=rec.partition,
            source_offset=rec.offset,
            original=rec.headers,
        )
        fut: asyncio.Future[Any] = await self.producer.send(
            self.topics.dlq, value=rec.value, key=rec.key, headers=headers
        )
        return fut

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit offsets of partitions still assigned; revoked ones are redelivered elsewhere."""
        assigned = self.consumer.assignment()
        wanted = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        owned = {tp: o for tp, o in wanted.items() if tp in assigned}
        if len(owned) < len(wanted):
            log.warning("partitions revoked mid-batch; their records will be processed again")
        if not owned:
            return
        try:
            await self.consumer.commit(owned)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit refused after a rebalance (%r); records will come again", exc)
            return
        except KafkaError as exc:
            raise InfrastructureError(f"committing offsets failed: {exc!r}") from exc
        self.metrics.positions(
            {(tp.topic, tp.partition): o for tp, o in owned.items()},
            lambda t, p: self.consumer.highwater(TopicPartition(t, p)),
        )

"""Offsets live in PostgreSQL: on assignment, seek every partition to its stored next offset.

aiokafka hands out a new assignment before calling the listener, and its fetcher starts reading
from Kafka's committed offset (or the earliest) meanwhile. So assigned partitions are paused first
thing, positioned from the database, and only then resumed: no record before the stored offset
is ever returned.

aiokafka logs and swallows exceptions raised by a rebalance listener. So a database failure here
is retried until it succeeds (or the stage stops), and anything else is kept in
:attr:`OffsetListener.failure` for the runner to re-raise; the partitions then stay paused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from kernel.errors import InfrastructureError
from kernel.retry import Backoff, Stopped, retry_until_stopped
from processors.store.logic import Partition, seek_plan

log = logging.getLogger("journeygate.store")

LoadOffsets = Callable[[Sequence[str]], Awaitable[dict[Partition, int]]]


class OffsetListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seeks assigned partitions to the offsets stored in the database.

    ``batch_lock`` is held by the runner while it writes a batch; revocation waits for it, so a
    batch being written is committed before its partitions move elsewhere. :attr:`generation`
    changes on every revocation: a batch polled under an older generation must be dropped, as
    its partitions may belong to another writer now, and the partitions still assigned must be
    positioned again (:meth:`position`), since polling moved them past the dropped records.
    ``backoff`` makes the delays of each retried read of the stored offsets.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        load_offsets: LoadOffsets,
        *,
        batch_lock: asyncio.Lock,
        stop: asyncio.Event,
        backoff: Callable[[], Backoff],
        on_db_retry: Callable[[], None] = lambda: None,
    ) -> None:
        self._consumer = consumer
        self._load = load_offsets
        self._lock = batch_lock
        self._stop = stop
        self._backoff = backoff
        self._on_db_retry = on_db_retry
        self.failure: BaseException | None = None
        self.generation = 0

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        async with self._lock:
            self.generation += 1
            log.info("partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        try:
            await self.position(list(assigned))
        except Stopped:
            return
        except Exception as exc:
            self.failure = exc
            raise

    def raise_if_failed(self) -> None:
        """Re-raise, in the runner's task, a failure that happened during assignment."""
        if self.failure is not None:
            raise self.failure

    async def position(self, partitions: list[Any]) -> None:
        """Pause ``partitions``, seek them to the database's offsets, then resume them.

        Raises :class:`Stopped` if the stage stops while the database is unreachable, and
        InfrastructureError if Kafka cannot tell the earliest offsets; the partitions then stay
        paused.
        """
        if not partitions:
            return
        self._consumer.pause(*partitions)
        try:
            await self._seek(partitions)
        except KafkaError as exc:
            raise InfrastructureError(f"cannot position assigned partitions: {exc}") from exc
        self._consumer.resume(*partitions)

    async def _seek(self, assigned: list[Any]) -> None:
        topics = sorted({tp.topic for tp in assigned})
        stored = await retry_until_stopped(
            lambda: self._load(topics),
            retriable=(psycopg.OperationalError, InfrastructureError),
            stop=self._stop,
            what="reading stored offsets",
            backoff=self._backoff(),
            on_retry=self._on_db_retry,
            logger=log,
        )
        plan = seek_plan(((tp.topic, tp.partition) for tp in assigned), stored)
        for (topic, partition), next_offset in plan.seek.items():
            self._consumer.seek(TopicPartition(topic, partition), next_offset)
        if plan.from_beginning:
            fresh = [TopicPartition(t, p) for t, p in plan.from_beginning]
            earliest = await self._consumer.beginning_offsets(fresh)
            for tp in fresh:
                self._consumer.seek(tp, earliest[tp])
        log.info(
            "partitions positioned: stored offsets %s, from the beginning %s",
            dict(plan.seek),
            list(plan.from_beginning),
        )

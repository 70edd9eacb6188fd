"""Offsets live in PostgreSQL: on assignment, seek every partition to its stored next offset.

The same protocol as the store writer's (docs/architecture.md, "Delivery guarantees"): assigned
partitions are paused, positioned from the database (from the beginning when nothing is
stored), then resumed, so no record before the stored offset is ever returned. Revocation waits
for the batch being written, bumps :attr:`OffsetListener.generation` (a batch polled under an
older generation is dropped by the runner) and calls ``on_revoked``: the runner forgets the
vehicle memories it cached, since their partitions may now belong to another member.

aiokafka logs and swallows exceptions raised by a rebalance listener, so a database failure is
retried here until it succeeds (or the stage stops), and anything else is kept in
:attr:`OffsetListener.failure` for the runner to re-raise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from kernel.errors import InfrastructureError
from kernel.retry import Backoff, Stopped, retry_until_stopped
from processors.signals.logic import Partition

log = logging.getLogger("journeygate.signals")

LoadOffsets = Callable[[Sequence[str]], Awaitable[dict[Partition, int]]]


@dataclass(frozen=True, slots=True)
class SeekPlan:
    seek: Mapping[Partition, int]
    from_beginning: tuple[Partition, ...]


def seek_plan(assigned: Iterable[Partition], stored: Mapping[Partition, int]) -> SeekPlan:
    """Resume every assigned partition at its stored offset, or at the beginning if none."""
    ordered = sorted(set(assigned))
    return SeekPlan(
        seek={p: stored[p] for p in ordered if p in stored},
        from_beginning=tuple(p for p in ordered if p not in stored),
    )


class OffsetListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        load_offsets: LoadOffsets,
        *,
        batch_lock: asyncio.Lock,
        stop: asyncio.Event,
        backoff: Callable[[], Backoff],
        on_revoked: Callable[[], None] = lambda: None,
        on_db_retry: Callable[[], None] = lambda: None,
    ) -> None:
        self._consumer = consumer
        self._load = load_offsets
        self._lock = batch_lock
        self._stop = stop
        self._backoff = backoff
        self._on_revoked = on_revoked
        self._on_db_retry = on_db_retry
        self.failure: BaseException | None = None
        self.generation = 0

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        async with self._lock:
            self.generation += 1
            self._on_revoked()
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
        if self.failure is not None:
            raise self.failure

    async def position(self, partitions: list[Any]) -> None:
        """Pause ``partitions``, seek them to the database's offsets, then resume them."""
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

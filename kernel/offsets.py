"""Offsets kept in PostgreSQL: on assignment, seek every partition to its stored next offset.

The protocol of every stage that stores its consumer offsets in the same transaction as its rows
(the store writer, the signals processor; docs/architecture.md, "Delivery guarantees").

aiokafka hands out a new assignment before calling the listener, and its fetcher starts reading
from Kafka's committed offset (or the earliest) meanwhile. So assigned partitions are paused first
thing, positioned from the database (from the beginning when nothing is stored), and only then
resumed: no record before the stored offset is ever returned.

aiokafka logs and swallows exceptions raised by a rebalance listener. So a failure to read the
stored offsets that the stage calls ``retriable`` is retried until it succeeds (or the stage
stops), and anything else is kept in :attr:`OffsetListener.failure` for the runner to re-raise;
the partitions then stay paused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from kernel.errors import InfrastructureError
from kernel.health import Readiness
from kernel.retry import Backoff, Stopped, retry_until_stopped

Partition = tuple[str, int]
"""A Kafka partition as ``(topic, partition)``."""
LoadOffsets = Callable[[Sequence[str]], Awaitable[dict[Partition, int]]]


@dataclass(frozen=True, slots=True)
class SeekPlan:
    """Where each newly assigned partition resumes."""

    seek: Mapping[Partition, int]
    """Partitions with a stored offset, and that offset."""
    from_beginning: tuple[Partition, ...]
    """Partitions the stage has never stored: read from the earliest offset."""


def seek_plan(assigned: Iterable[Partition], stored: Mapping[Partition, int]) -> SeekPlan:
    """Resume every assigned partition at its stored offset, or at the beginning if none."""
    ordered = sorted(set(assigned))
    return SeekPlan(
        seek={p: stored[p] for p in ordered if p in stored},
        from_beginning=tuple(p for p in ordered if p not in stored),
    )


class OffsetListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seeks assigned partitions to the offsets stored in the database.

    ``batch_lock`` is held by the runner while it writes a batch; revocation waits for it, so a
    batch being written is committed before its partitions move elsewhere. :attr:`generation`
    changes on every revocation: a batch polled under an older generation must be dropped, as
    its partitions may belong to another writer now, and the partitions still assigned must be
    positioned again (:meth:`position`), since polling moved them past the dropped records.
    ``backoff`` makes the delays of each retried read of the stored offsets, ``retriable`` names
    the failures of ``load_offsets`` worth retrying, ``on_revoked`` lets the stage forget what it
    cached of the partitions it loses. With ``readiness``, its condition ``partitions`` is met
    while partitions are assigned and positioned.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        load_offsets: LoadOffsets,
        *,
        batch_lock: asyncio.Lock,
        stop: asyncio.Event,
        backoff: Callable[[], Backoff],
        retriable: tuple[type[BaseException], ...],
        logger: logging.Logger,
        on_revoked: Callable[[], None] = lambda: None,
        on_db_retry: Callable[[], None] = lambda: None,
        readiness: Readiness | None = None,
    ) -> None:
        self._consumer = consumer
        self._ready = readiness
        self._load = load_offsets
        self._lock = batch_lock
        self._stop = stop
        self._backoff = backoff
        self._retriable = retriable
        self._log = logger
        self._on_revoked = on_revoked
        self._on_db_retry = on_db_retry
        self.failure: BaseException | None = None
        self.generation = 0

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        async with self._lock:
            self.generation += 1
            if self._ready is not None:
                self._ready.unmet("partitions", "rebalancing")
            self._on_revoked()
            self._log.info(
                "partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked)
            )

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        try:
            await self.position(list(assigned))
        except Stopped:
            return
        except Exception as exc:
            self.failure = exc
            raise
        if self._ready is not None:
            assigned_now = bool(self._consumer.assignment())
            self._ready.set("partitions", assigned_now, "no partitions assigned")

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
            retriable=self._retriable,
            stop=self._stop,
            what="reading stored offsets",
            backoff=self._backoff(),
            on_retry=self._on_db_retry,
            logger=self._log,
        )
        plan = seek_plan(((tp.topic, tp.partition) for tp in assigned), stored)
        for (topic, partition), next_offset in plan.seek.items():
            self._consumer.seek(TopicPartition(topic, partition), next_offset)
        if plan.from_beginning:
            fresh = [TopicPartition(t, p) for t, p in plan.from_beginning]
            earliest = await self._consumer.beginning_offsets(fresh)
            for tp in fresh:
                self._consumer.seek(tp, earliest[tp])
        self._log.info(
            "partitions positioned: stored offsets %s, from the beginning %s",
            dict(plan.seek),
            list(plan.from_beginning),
        )

"""The owners' consent changes of the period, published to ``vehicle.consent`` when they happen.

An owner who withdraws (or gives) consent in a dealer's app or portal is heard at once, not
with the invoices: each change of the period goes to Kafka (key = VIN) as the publishing of
the telemetry passes its time, through one producer on a background event loop (so the
telemetry's pacing is not held up), and the changes after the last message follow at the end.
Consent at delivery goes through the registry instead (:mod:`.registry`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError

from kernel.errors import InfrastructureError
from kernel.kafka import VEHICLE_CONSENT, ensure_topics, make_producer, start_client
from kernel.settings import Settings
from schemas.consent import ConsentChange, ConsentCodec, consent_change
from simulator.publishing.plan import Plan
from simulator.world.events import ConsentChange as ConsentEvent

SOURCE = "owner-app"


def period_changes(plan: Plan) -> list[ConsentChange]:
    """The consent changes of the period ``(start, now]``, in time order."""
    start_ms, now_ms = _ms(plan.start), _ms(plan.now)
    events = [
        e
        for v in plan.vehicles
        for e in v.events
        if isinstance(e, ConsentEvent) and start_ms < e.ts_ms <= now_ms
    ]
    events.sort(key=lambda e: (e.ts_ms, e.vin, e.purpose))
    return [
        consent_change(
            e.vin, e.purpose, e.granted, datetime.fromtimestamp(e.ts_ms / 1000, UTC), SOURCE
        )
        for e in events
    ]


class ConsentPublisher:
    """Publishes consent changes in the background; :meth:`close` waits for every one."""

    def __init__(self, settings: Settings, changes: Sequence[ConsentChange]) -> None:
        self._settings = settings
        self._topic = settings.topic(VEHICLE_CONSENT)
        self._changes = list(changes)
        self._next = 0
        self._codec = ConsentCodec()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="consent-publisher", daemon=True
        )
        self._thread.start()
        self._pending: list[Future[Any]] = []
        try:
            self._producer = self._call(self._start())
        except BaseException:
            self._stop_loop()
            raise

    @property
    def published(self) -> int:
        return self._next

    def until(self, ts_ms: int) -> None:
        """Send every change at or before ``ts_ms`` not sent yet (without waiting)."""
        while (
            self._next < len(self._changes) and _ms(self._changes[self._next].changed_at) <= ts_ms
        ):
            change = self._changes[self._next]
            coro = self._send(change)
            self._pending.append(asyncio.run_coroutine_threadsafe(coro, self._loop))
            self._next += 1

    def close(self, timeout_s: float = 30.0) -> int:
        """Wait until Kafka acknowledged every change sent; stop. Returns how many."""
        try:
            for fut in self._pending:
                fut.result(timeout=timeout_s)
        except KafkaError as exc:
            raise InfrastructureError(
                f"publishing consent changes to {self._topic} failed: {exc}"
            ) from exc
        finally:
            self._call(self._producer.stop())
            self._stop_loop()
        return len(self._pending)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _start(self) -> Any:
        await ensure_topics(self._settings, [self._topic])
        producer = make_producer(self._settings, client_id="journeygate-consent")
        await start_client(producer, self._settings)
        return producer

    async def _send(self, change: ConsentChange) -> None:
        delivery = await self._producer.send(
            self._topic, self._codec.encode(change), key=change.vin.encode()
        )
        await delivery


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def _at(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, UTC)

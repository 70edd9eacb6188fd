"""The live alert stream of ``GET /v1/alerts/stream`` (server-sent events; docs/api.md).

The stream's position is an alert's (stored_at, alert_id): ``stored_at`` is the store's clock
when the inserting transaction started, so positions only grow with time. A row becomes visible
at its transaction's commit, though: an alert committed late can hold a position below one
already sent. Each poll therefore reads again from ``overlap`` before the greatest position
sent, and leaves out the ids already sent within that window (:class:`Window`). An alert is sent
once per stream, and a transaction that commits within ``overlap`` of its start is never missed.

Each event's id is the greatest position sent so far, not the alert's own: after a late alert,
resuming from the last id neither repeats the alerts sent before it nor skips any later one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from dealers import store
from dealers.cursor import encode_event_id

log = logging.getLogger("journeygate.api")

Position = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How often the store is polled, how often an idle stream gets a keep-alive comment, how
    far back each poll reads again for late commits, and the most alerts read per poll."""

    poll_s: float = 1.0
    keepalive_s: float = 15.0
    overlap_s: float = 5.0
    batch: int = 200
    retry_ms: int = 2000

    def __post_init__(self) -> None:
        if self.poll_s <= 0 or self.keepalive_s <= 0 or self.overlap_s < 0 or self.batch < 1:
            raise ValueError("poll_s and keepalive_s must be > 0, overlap_s >= 0, batch >= 1")


@dataclass(slots=True)
class Window:
    """What a stream has sent: the greatest position (``top``), and the ids sent (or known at
    the start) whose stored_at is within ``overlap`` of it. The next poll reads strictly after
    :meth:`lower`, leaving out :meth:`exclude`. Nothing at or below ``floor`` is ever sent."""

    floor: Position
    top: Position
    overlap: timedelta
    seen: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def after(cls, position: Position, overlap: timedelta) -> Window:
        """A stream resumed strictly after ``position`` (a Last-Event-ID, or ``since``)."""
        return cls(floor=position, top=position, overlap=overlap)

    @classmethod
    def from_now(cls, now: datetime, known: dict[str, datetime], overlap: timedelta) -> Window:
        """A stream of the alerts committed from ``now`` on: those ``known`` (committed before
        it) are left out, a late commit stored up to ``overlap`` earlier is sent."""
        window = cls(floor=(now - overlap, ""), top=(now, ""), overlap=overlap, seen=dict(known))
        window._prune()
        return window

    def lower(self) -> Position:
        return max(self.floor, (self.top[0] - self.overlap, ""))

    def exclude(self) -> list[str]:
        return list(self.seen)

    def add(self, stored_at: datetime, alert_id: str) -> str:
        """Record an alert sent; the event id to send with it (the greatest position)."""
        self.seen[alert_id] = stored_at
        if (stored_at, alert_id) > self.top:
            self.top = (stored_at, alert_id)
            self._prune()
        return encode_event_id(*self.top)

    def _prune(self) -> None:
        edge = self.top[0] - self.overlap
        for alert_id in [a for a, at in self.seen.items() if at < edge]:
            del self.seen[alert_id]


def comment(text: str) -> str:
    return f": {text}\n\n"


async def events(
    request: Request,
    conn: store.Conn,
    dealer_id: str,
    window: Window,
    options: StreamOptions,
    render: Callable[[dict[str, Any]], str],
) -> AsyncIterator[str]:
    """The SSE text of the dealer's new alerts until the client leaves (or the store fails:
    the client then reconnects with its Last-Event-ID). Owns and closes ``conn``."""
    try:
        yield f"retry: {options.retry_ms}\n" + comment("stream open")
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            rows = await run_in_threadpool(
                store.stream_alerts,
                conn,
                dealer_id,
                after=window.lower(),
                exclude=window.exclude(),
                limit=options.batch,
            )
            chunks = []
            for row in rows:
                stored_at = row.pop("stored_at")
                event_id = window.add(stored_at, row["alert_id"])
                chunks.append(f"event: alert\nid: {event_id}\ndata: {render(row)}\n\n")
            if chunks:
                yield "".join(chunks)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= options.keepalive_s:
                yield comment("keep-alive")
                quiet_since = time.monotonic()
            if len(rows) < options.batch:
                await anyio.sleep(options.poll_s)
    except psycopg.Error as exc:
        log.warning("alert stream of %s ended: store error %s", dealer_id, type(exc).__name__)
    finally:
        conn.close()

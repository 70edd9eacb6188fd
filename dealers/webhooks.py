"""Signed webhooks for dealer alerts (docs/api.md, "Webhooks").

The journey processor writes a row of ``webhook_outbox`` for each alert it raises for a dealer
with a webhook, in the transaction that inserts the alert (``processors/journey/db.py``).
:func:`run_sender` (``journeygate webhooks``) delivers them at least once: it claims due rows
(``FOR UPDATE SKIP LOCKED``) and moves them a lease ahead in a committed transaction before
sending, so a row whose sender dies mid-delivery is due again when the lease runs out; the
receiver tells a repeat by its ``X-Journeygate-Delivery`` header. A 2xx answer makes the row
``delivered``; any other outcome schedules a retry (exponential backoff with full jitter) until
the attempts run out, then the row is ``dead`` until replayed.

Each request is signed: ``X-Journeygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" keyed by the dealer's secret>``. Secrets and URLs are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import psycopg

from database.db import Reconnecting, wait_for_store
from dealers import webhook_metrics as metrics
from kernel.errors import InfrastructureError
from kernel.health import readiness
from kernel.retry import Stopped

log = logging.getLogger("journeygate.webhooks")

Conn = psycopg.Connection[Any]
AsyncConn = psycopg.AsyncConnection[tuple[object, ...]]

SIGNATURE_HEADER = "X-Journeygate-Signature"
DELIVERY_HEADER = "X-Journeygate-Delivery"
EVENT_HEADER = "X-Journeygate-Event"
USER_AGENT = "journeygate-webhooks/1"

SECRET_PREFIX = "whsec_"
_SECRET = re.compile(r"^[\x21-\x7e]{16,200}$")
MAX_URL_LENGTH = 2000
MAX_ERROR_LENGTH = 300

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BASE_S = 1.0
DEFAULT_CAP_S = 300.0


# --- signatures -----------------------------------------------------------------------------


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed by ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The value of ``X-Journeygate-Signature``: ``t=<timestamp>,v1=<signature>``."""
    return f"t={timestamp},v1={signature(secret, body, timestamp)}"


def verify_signature(
    secret: str, body: bytes, header: str, *, now: float | None = None, tolerance_s: int = 300
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_s`` of
    ``now`` (a receiver's check; the tolerance turns away replays of old requests)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))


def generate_secret() -> str:
    """A new signing secret: ``whsec_`` and 43 URL-safe characters (32 random bytes)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot be a signing secret, or None (never quotes the secret)."""
    if not _SECRET.match(secret):
        return "16 to 200 printable ASCII characters without spaces"
    return None


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook URL, or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http:// or https:// URL with a host"
    if any(c.isspace() for c in url):
        return "no spaces"
    return None


# --- retries --------------------------------------------------------------------------------


def backoff_s(
    attempt: int,
    *,
    base_s: float = DEFAULT_BASE_S,
    cap_s: float = DEFAULT_CAP_S,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): exponential backoff
    with full jitter, uniform in ``[0, min(cap_s, base_s * 2 ** (attempt - 1))]``."""
    ceiling = min(cap_s, base_s * 2.0 ** min(max(attempt, 1) - 1, 62))
    return rng() * ceiling


# --- configuration (CLI) --------------------------------------------------------------------


class UnknownDealerId(LookupError):
    """No dealer of that id."""


def _require_dealer(conn: Conn, dealer_id: str) -> None:
    found = conn.execute(
        "SELECT 1 FROM dealers WHERE dealer_id = %s FOR SHARE", (dealer_id,)
    ).fetchone()
    if found is None:
        raise UnknownDealerId(dealer_id)


def set_webhook(conn: Conn, dealer_id: str, url: str, secret: str) -> bool:
    """Set the dealer's webhook URL and secret (replacing both); True if it had none.
    :class:`UnknownDealerId` if there is no such dealer."""
    with conn.transaction():
        _require_dealer(conn, dealer_id)
        row = conn.execute(
            "INSERT INTO dealer_webhooks (dealer_id, url, secret) VALUES (%s, %s, %s)"
            " ON CONFLICT (dealer_id) DO UPDATE"
            " SET url = EXCLUDED.url, secret = EXCLUDED.secret, updated_at = now()"
            " RETURNING (xmax = 0)",
            (dealer_id, url, secret),
        ).fetchone()
    assert row is not None
    return bool(row[0])


def replay_dead(conn: Conn, dealer_id: str) -> int:
    """Make the dealer's dead deliveries new again, due now with no attempts; how many.
    :class:`UnknownDealerId` if there is no such dealer."""
    with conn.transaction():
        _require_dealer(conn, dealer_id)
        return conn.execute(
            "UPDATE webhook_outbox SET state = 'new', attempts = 0, next_attempt_at = now(),"
            " last_error = NULL WHERE dealer_id = %s AND state = 'dead'",
            (dealer_id,),
        ).rowcount


# --- the sender -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SenderOptions:
    batch: int = 20
    """Rows claimed (and sent concurrently) at once."""
    timeout_s: float = 5.0
    """Per request."""
    lease_s: float = 60.0
    """How long a claimed row is withheld from other senders; above ``timeout_s``."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    poll_s: float = 1.0
    """Pause when nothing is due."""


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: str
    dealer_id: str
    event: str
    body: bytes
    url: str
    secret: str
    attempt: int
    """This attempt's number (1 for the first)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    error: str | None = None


# Nothing of a purpose the owner no longer consents to leaves the store: a delivery whose
# alert was hidden since it was raised (consent withdrawn, or the owner left) is withheld.
_WITHHOLD = """
UPDATE webhook_outbox o SET state = 'dead',
    last_error = 'withheld: the alert was hidden (consent withdrawn or the owner left)'
FROM alerts a
WHERE a.alert_id = o.alert_id AND a.state = 'hidden' AND o.state = 'new'
"""
_CLAIM = """
SELECT o.delivery_id, o.dealer_id, o.payload, o.attempts, w.url, w.secret
FROM webhook_outbox o JOIN dealer_webhooks w USING (dealer_id)
WHERE o.state = 'new' AND o.next_attempt_at <= now()
ORDER BY o.next_attempt_at, o.delivery_id
LIMIT %s
FOR UPDATE OF o SKIP LOCKED
"""
_LEASE = """
UPDATE webhook_outbox SET attempts = attempts + 1,
    next_attempt_at = now() + make_interval(secs => %s)
WHERE delivery_id = ANY(%s)
"""
# A row whose attempts ran out while its sender stopped before recording an answer.
_EXHAUSTED = """
UPDATE webhook_outbox
SET state = 'dead', last_error = COALESCE(last_error, 'no answer recorded for the last attempt')
WHERE delivery_id = ANY(%s)
"""
_DELIVERED = """
UPDATE webhook_outbox SET state = 'delivered', delivered_at = now(), last_error = NULL
WHERE delivery_id = %s AND state = 'new' AND attempts = %s
"""
_RETRY = """
UPDATE webhook_outbox SET next_attempt_at = now() + make_interval(secs => %s), last_error = %s
WHERE delivery_id = %s AND state = 'new' AND attempts = %s
"""
_DEAD = """
UPDATE webhook_outbox SET state = 'dead', last_error = %s
WHERE delivery_id = %s AND state = 'new' AND attempts = %s
"""


async def claim(conn: AsyncConn, options: SenderOptions) -> tuple[list[Claimed], int]:
    """Take up to ``options.batch`` due rows and move them a lease ahead, committed before
    any is sent: a sender that dies now leaves them due again when the lease runs out. Also
    how many due rows had no attempt left (their sender stopped during the last one): dead."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(_WITHHOLD)
        await cur.execute(_CLAIM, (options.batch,))
        rows = await cur.fetchall()
        exhausted = [str(r[0]) for r in rows if int(str(r[3])) >= options.max_attempts]
        if exhausted:
            await cur.execute(_EXHAUSTED, (exhausted,))
        live = [r for r in rows if int(str(r[3])) < options.max_attempts]
        if live:
            await cur.execute(_LEASE, (options.lease_s, [str(r[0]) for r in live]))
    claimed = []
    for delivery_id, dealer_id, payload, attempts, url, secret in live:
        event = payload.get("event", "alert.raised") if isinstance(payload, dict) else ""
        claimed.append(
            Claimed(
                delivery_id=str(delivery_id),
                dealer_id=str(dealer_id),
                event=str(event),
                body=orjson.dumps(payload),
                url=str(url),
                secret=str(secret),
                attempt=int(str(attempts)) + 1,
            )
        )
    return claimed, len(exhausted)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def deliver(client: httpx.AsyncClient, item: Claimed, timeout_s: float) -> Outcome:
    """POST one delivery, signed now; a 2xx answer is a success."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: item.delivery_id,
        EVENT_HEADER: item.event,
        SIGNATURE_HEADER: signature_header(item.secret, item.body, int(time.time())),
    }
    started = time.perf_counter()
    try:
        response = await client.post(
            item.url, content=item.body, headers=headers, timeout=timeout_s
        )
    except httpx.TimeoutException as exc:
        return Outcome(False, f"timeout after {timeout_s:g} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Outcome(False, _short(exc)[:MAX_ERROR_LENGTH])
    finally:
        metrics.request_took(time.perf_counter() - started)
    if 200 <= response.status_code < 300:
        return Outcome(True)
    return Outcome(False, f"HTTP {response.status_code}")


async def record(
    conn: AsyncConn,
    results: Sequence[tuple[Claimed, Outcome]],
    options: SenderOptions,
    rng: Callable[[], float] = random.random,
) -> dict[str, int]:
    """Store the answers: delivered, a retry after the backoff, or dead once the attempts run
    out. A row that another sender claimed since (the lease ran out) is left to it."""
    counts = {"delivered": 0, "retry": 0, "dead": 0}
    async with conn.transaction(), conn.cursor() as cur:
        for item, outcome in results:
            if outcome.ok:
                await cur.execute(_DELIVERED, (item.delivery_id, item.attempt))
                counts["delivered"] += 1
            elif item.attempt >= options.max_attempts:
                await cur.execute(_DEAD, (outcome.error, item.delivery_id, item.attempt))
                counts["dead"] += 1
                log.warning(
                    "delivery %s of dealer %s dead after %d attempts: %s",
                    item.delivery_id, item.dealer_id, item.attempt, outcome.error,
                )  # fmt: skip
            else:
                delay = backoff_s(item.attempt, base_s=options.base_s, cap_s=options.cap_s, rng=rng)
                await cur.execute(_RETRY, (delay, outcome.error, item.delivery_id, item.attempt))
                counts["retry"] += 1
                log.info(
                    "delivery %s of dealer %s failed (attempt %d): %s; next in %.1f s",
                    item.delivery_id, item.dealer_id, item.attempt, outcome.error, delay,
                )  # fmt: skip
    return counts


async def send_round(
    conn: AsyncConn, client: httpx.AsyncClient, options: SenderOptions
) -> dict[str, int]:
    """Claim due rows, send them concurrently and record the answers; the counts."""
    items, exhausted = await claim(conn, options)
    if not items:
        metrics.recorded({"dead": exhausted})
        return {"delivered": 0, "retry": 0, "dead": exhausted}
    outcomes = await asyncio.gather(*(deliver(client, i, options.timeout_s) for i in items))
    counts = await record(conn, list(zip(items, outcomes, strict=True)), options)
    counts["dead"] += exhausted
    metrics.recorded(counts)
    return counts


async def run_sender(
    database_url: str, options: SenderOptions, stop: asyncio.Event, *, once: bool = False
) -> None:
    """Deliver due rows until ``stop`` is set; with ``once``, until nothing is due.

    At start it waits with backoff while the store is unreachable or not migrated (with
    ``once`` that is an InfrastructureError), and is ready (``/readyz``) once it reached it; a
    store connection lost later is retried every ``poll_s``. A stop lets the requests in
    flight finish and record their answers.
    """
    # httpx logs every request's URL at INFO, and a dealer's URL may carry a token.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    db = Reconnecting(database_url)
    ready = readiness(metrics.STAGE)
    ready.require("postgresql", "not connected to PostgreSQL yet")
    try:
        if once:
            await db.connection()
        else:
            try:
                await wait_for_store(db.connection, ready, stop, log)
            except Stopped:
                return
        ready.met("postgresql")
        async with httpx.AsyncClient(follow_redirects=False) as client:
            while not stop.is_set():
                try:
                    counts = await db.guarded(lambda conn: send_round(conn, client, options))
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    if once:
                        raise InfrastructureError(f"PostgreSQL: {_short(exc)}") from None
                    metrics.store_failed()
                    log.warning("store unavailable (%s); retrying", _short(exc))
                    counts = None
                except InfrastructureError as exc:
                    if once:
                        raise
                    log.warning("%s; retrying", exc)
                    counts = None
                if counts is not None and any(counts.values()):
                    log.info(
                        "delivered %d, to retry %d, dead %d",
                        counts["delivered"], counts["retry"], counts["dead"],
                    )  # fmt: skip
                    continue
                if once and counts is not None:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), options.poll_s)
    finally:
        await db.close()

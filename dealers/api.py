"""The dealer HTTP API (FastAPI): ``create_app(settings)``; run by ``journeygate api``.

Endpoints under ``/v1`` (docs/api.md): a dealer's alerts, a live stream of its new alerts
(server-sent events, dealers/stream.py), acknowledging one, a vehicle's view; the dealer inbox
page under ``/inbox`` (HTML, dealers/inbox.py). Each request opens
its own connection to the store (autocommit); a stream holds one while it is open. Errors are
RFC 9457 problem details; an alert or vehicle of another dealer gives the same 404 as one that
does not exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, WithJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

from database.db import connect, connection_pool
from dealers import api_metrics, store
from dealers.cursor import BadCursor, decode_cursor, decode_event_id, encode_cursor
from dealers.inbox import mount_inbox
from dealers.keys import hash_key, looks_like_key
from dealers.ratelimit import RateLimiter
from dealers.sessions import DEFAULT_LIFETIME_S
from dealers.storegate import StoreGate
from dealers.stream import StreamOptions, Window, events
from kernel.errors import InfrastructureError
from kernel.health import BEAT_INTERVAL_S, Liveness, liveness, readiness
from kernel.settings import Settings

log = logging.getLogger("journeygate.api")

PROBLEM_JSON = "application/problem+json"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
DEFAULT_RATE = 20.0
DEFAULT_BURST = 40
TIMELINE_LIMIT = 100
DEFAULT_POOL_SIZE = 10
# Keys of the store's JSON that would place a vehicle; none is served (location data needs the
# owner's location consent, and no endpoint serves location yet), wherever they appear.
_LOCATION_KEYS = frozenset({"lat", "lon", "lng", "geo", "position", "heading", "address"})
_LOCATION_PARTS = ("latitude", "longitude", "location", "coordinate", "gps", "geohash")
_ALERT_NOT_FOUND = "No alert with this id is available to this dealer."
_VEHICLE_NOT_FOUND = "No vehicle with this VIN is available to this dealer."


class Problem(Exception):
    """An RFC 9457 problem answered as ``application/problem+json``."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def problem_response(
    status: int, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ProblemDetails(BaseModel):
    type: str
    title: str
    status: int
    detail: str


class Alert(BaseModel):
    alert_id: str
    vin: str
    alert_type: str
    subject: str | None
    stage: str
    purpose: str
    severity: str
    priority: int
    created_ts: datetime
    expires_ts: datetime
    reason: str
    action: str
    figures: Any
    state: str
    acknowledged_at: datetime | None


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None


class Position(BaseModel):
    event_ts: datetime
    latitude_deg: float
    longitude_deg: float


class Vehicle(BaseModel):
    vin: str
    registry: dict[str, Any]
    consent: dict[str, bool]
    predictions: dict[str, Any] | None
    timeline: list[dict[str, Any]]
    location: Position | None


_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}
    for status in (400, 401, 404, 429, 503)
}
# An ISO 8601 date-time with a zone, parsed by _parse_since (its errors are problems).
DateTimeText = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
AlertState = Literal["new", "acknowledged", "expired"]


class _DealerApi(FastAPI):
    """FastAPI whose OpenAPI document says what the handlers answer: errors are problem
    details (:data:`_PROBLEMS`), and a request that fails validation is a 400 problem, never
    FastAPI's 422."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is not None:
            return self.openapi_schema
        doc = super().openapi()
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas["ProblemDetails"] = ProblemDetails.model_json_schema()
        return doc


def _locating(key: str) -> bool:
    low = key.lower()
    return low in _LOCATION_KEYS or any(part in low for part in _LOCATION_PARTS)


def _scrub(value: Any) -> Any:
    """``value`` without any location-like key, at any depth; times as ISO 8601 in UTC (``Z``),
    as the alerts' are."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not _locating(str(k))}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


# An earlier (later) ``since`` selects what these do; a day inside Python's range, so that the
# stream's overlap can be taken from them.
_SINCE_RANGE = (
    datetime.min.replace(tzinfo=UTC) + timedelta(days=1),
    datetime.max.replace(tzinfo=UTC) - timedelta(days=1),
)


def _parse_since(text: str) -> datetime:
    try:
        # RFC 3339 allows a lower-case "t" and "z"
        value = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise Problem(400, f"since: not an ISO 8601 date-time: {text[:64]!r}") from None
    if value.tzinfo is None:
        raise Problem(400, "since: a date-time needs a zone (e.g. 2026-03-01T00:00:00Z)")
    earliest, latest = _SINCE_RANGE
    try:
        at = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before 0001-01-01 in UTC
        at = earliest if value.year == 1 else latest
    return min(max(at, earliest), latest)


def _marketing_gates() -> frozenset[str]:
    """Alert types (gates) of marketing purpose, from the journey's default rules."""
    from processors.journey.rules import load_rules

    return frozenset(name for name, t in load_rules().alerts.items() if t.purpose == "marketing")


_bearer = HTTPBearer(auto_error=False, description="A dealer API key: `jg_...`")


@dataclass(frozen=True, slots=True)
class _Config:
    database_url: str
    store: StoreGate
    """Connections of the requests (a stream opens its own: it holds it while open)."""
    limiter: RateLimiter
    marketing_gates: frozenset[str]
    stream: StreamOptions


def _config(request: Request) -> _Config:
    config: _Config = request.app.state.dealer_api
    return config


def _connection(request: Request) -> Iterator[store.Conn]:
    ready = readiness(api_metrics.STAGE)
    try:
        with _config(request).store.connection() as conn:
            ready.met("postgresql")
            yield conn
    except InfrastructureError as exc:
        ready.unmet("postgresql", str(exc))
        raise


async def _beat(alive: Liveness) -> None:
    """The event loop turns: ``/healthz`` of ``--metrics-port`` says so."""
    while True:
        alive.beat()
        await asyncio.sleep(BEAT_INTERVAL_S)


Connection = Annotated[store.Conn, Depends(_connection)]


def _authorize(
    request: Request, conn: store.Conn, credentials: HTTPAuthorizationCredentials | None
) -> store.Caller:
    challenge = {"WWW-Authenticate": 'Bearer realm="journeygate"'}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(
            401, "An API key is required: Authorization: Bearer <key>.", headers=challenge
        )
    key = credentials.credentials
    found = store.authenticate(conn, hash_key(key)) if looks_like_key(key) else None
    if found is None:
        raise Problem(401, "The API key is not valid or was revoked.", headers=challenge)
    limiter = _config(request).limiter
    wait = limiter.take(found.key_id)
    if wait > 0:
        raise Problem(
            429,
            f"Over the rate limit of {limiter.rate:g} requests per second"
            f" (bursts of {limiter.burst}).",
            headers={"Retry-After": limiter.retry_after(wait)},
        )
    return found


def _caller(
    request: Request,
    conn: Connection,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> store.Caller:
    """The dealer of the request's key, within its rate; else 401 or 429."""
    return _authorize(request, conn, credentials)


def _stream_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> store.Caller:
    """As :func:`_caller`, on a connection given back at once (not held for the stream)."""
    with _config(request).store.connection() as conn:
        return _authorize(request, conn, credentials)


Dealer = Annotated[store.Caller, Depends(_caller)]
StreamDealer = Annotated[store.Caller, Depends(_stream_caller)]
router = APIRouter(prefix="/v1", responses=_PROBLEMS)


@router.get("/alerts", response_model=AlertPage, tags=["alerts"])
def list_alerts(
    dealer: Dealer,
    conn: Connection,
    alert_type: Annotated[
        str | None, Query(alias="type", max_length=64, description="Alert type (gate)")
    ] = None,
    state: Annotated[
        list[AlertState] | None,
        Query(description="new, acknowledged or expired; repeatable (default: new, acknowledged)"),
    ] = None,
    since: Annotated[
        DateTimeText | None,
        Query(description="Created at or after this ISO 8601 date-time with a zone"),
    ] = None,
    vehicle: Annotated[str | None, Query(max_length=17, description="VIN")] = None,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, description=f"Page size (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
) -> AlertPage:
    """The caller's alerts, newest first; hidden alerts are never listed."""
    states: tuple[str, ...] = tuple(state) if state else store.DEFAULT_STATES
    try:
        after = None if cursor is None else decode_cursor(cursor)
    except BadCursor:
        raise Problem(400, "cursor: not a cursor of this API") from None
    size = min(limit, MAX_LIMIT)
    rows = store.list_alerts(
        conn,
        dealer.dealer_id,
        states=states,
        alert_type=alert_type,
        since=None if since is None else _parse_since(since),
        vin=vehicle,
        after=after,
        limit=size + 1,
    )
    page = rows[:size]
    next_cursor = None
    if len(rows) > size:
        last = page[-1]
        next_cursor = encode_cursor(last["created_ts"], last["alert_id"])
    return AlertPage(items=[Alert(**_scrub(r)) for r in page], next_cursor=next_cursor)


_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `event: alert`, `id: <event id>`, `data: <alert>`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/alerts/stream",
    response_class=StreamingResponse,
    responses=_STREAM_RESPONSES,
    tags=["alerts"],
)
def stream_alerts(
    request: Request,
    dealer: StreamDealer,
    since: Annotated[
        DateTimeText | None,
        Query(
            description="Without an event id: start with the alerts stored at or after this"
            " ISO 8601 date-time with a zone (default: those stored from now on)"
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(
            max_length=1024,
            description="Resume after this event id (the Last-Event-ID"
            " header, which wins when both are given)",
        ),
    ] = None,
) -> StreamingResponse:
    """The caller's new alerts as server-sent events, in the order they were stored; hidden
    alerts are never sent. Resumable: reconnect with the last event id."""
    options = _config(request).stream
    overlap = timedelta(seconds=options.overlap_s)
    resume = request.headers.get("last-event-id") or last_event_id
    position: tuple[datetime, str] | None = None
    if resume:
        try:
            position = decode_event_id(resume)
        except BadCursor:
            raise Problem(400, "Last-Event-ID: not an event id of this stream") from None
    elif since is not None:
        position = (_parse_since(since), "")
    conn = connect(_config(request).database_url, autocommit=True)
    try:
        if position is None:
            now, known = store.stream_start(conn, dealer.dealer_id, overlap)
            window = Window.from_now(now, known, overlap)
        else:
            window = Window.after(position, overlap)
    except BaseException:
        conn.close()
        raise
    body = events(request, conn, dealer.dealer_id, window, options, _render_alert)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _render_alert(row: dict[str, Any]) -> str:
    return Alert(**_scrub(row)).model_dump_json()


@router.post("/alerts/{alert_id}/ack", response_model=Alert, tags=["alerts"])
def acknowledge(dealer: Dealer, conn: Connection, alert_id: str) -> Alert:
    """Acknowledge a new alert of the caller (an acknowledged one: unchanged)."""
    row = store.acknowledge(conn, dealer.dealer_id, alert_id)
    if row is None:
        raise Problem(404, _ALERT_NOT_FOUND)
    return Alert(**_scrub(row))


@router.get("/vehicles/{vin}", response_model=Vehicle, tags=["vehicles"])
def vehicle(request: Request, dealer: Dealer, conn: Connection, vin: str) -> dict[str, Any]:
    """A vehicle the caller looks after: registry, current predictions, journey timeline and
    newest position. Equity and the marketing gates' timeline only with the owner's marketing
    consent, the position only with their location consent."""
    record = store.read_vehicle(conn, dealer.dealer_id, vin, TIMELINE_LIMIT)
    if record is None:
        raise Problem(404, _VEHICLE_NOT_FOUND)
    marketing = record.consent.get("marketing_offers", False)
    predictions: dict[str, Any] | None = None
    if record.state is not None:
        predictions = dict(record.state)
        if not marketing:
            del predictions["equity"]
    gates = _config(request).marketing_gates
    timeline = [e for e in record.timeline if marketing or e.get("gate") not in gates]
    return {
        "vin": record.registry["vin"],
        "registry": {k: v for k, v in record.registry.items() if k != "vin"},
        "consent": {
            p: record.consent.get(p, False)
            for p in ("service_reminders", "marketing_offers", "location")
        },
        "predictions": _scrub(predictions),
        "timeline": _scrub(timeline),
        # the newest position, only under the owner's location consent in force
        "location": record.location if record.consent.get("location", False) else None,
    }


def create_app(
    settings: Settings,
    *,
    rate_per_second: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    stream: StreamOptions | None = None,
    session_lifetime_s: float = DEFAULT_LIFETIME_S,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> FastAPI:
    """The API over the store of ``settings.database_url``, limiting each key to
    ``rate_per_second`` requests with bursts of ``burst``; ``stream`` times the alert stream
    (default :class:`StreamOptions`: poll 1 s, keep-alive 15 s, overlap 5 s). The dealer inbox
    page is served under ``/inbox`` (dealers/inbox.py), its sessions lasting
    ``session_lifetime_s``. Requests share a pool of up to ``pool_size`` connections, closed
    when the server stops."""
    pool = connection_pool(settings.database_url, max_size=pool_size)
    gate = StoreGate(pool, settings.database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        beating = asyncio.create_task(_beat(liveness(api_metrics.STAGE)))
        stop = asyncio.Event()
        waiting = asyncio.create_task(gate.wait(readiness(api_metrics.STAGE), stop))
        yield
        stop.set()
        await waiting
        beating.cancel()
        pool.close()

    app = _DealerApi(
        lifespan=lifespan,
        title="journeygate dealer API",
        version="1",
        summary="A dealer's alerts and the vehicles they look after.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.dealer_api = _Config(
        database_url=settings.database_url,
        store=gate,
        limiter=RateLimiter(rate_per_second, burst),
        marketing_gates=_marketing_gates(),
        stream=stream or StreamOptions(),
    )
    app.include_router(router)
    app.add_middleware(api_metrics.RequestMetrics)
    mount_inbox(
        app,
        gate,
        limiter=app.state.dealer_api.limiter,
        session_lifetime_s=session_lifetime_s,
    )

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> Any:
        return problem_response(exc.status, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Any:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, detail, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Any:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return problem_response(400, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(InfrastructureError)
    async def _down(_: Request, exc: InfrastructureError) -> Any:
        log.error("store unavailable: %s", exc)
        return problem_response(503, "The store is unavailable; try again later.")

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(_: Request, exc: psycopg.OperationalError) -> Any:
        log.error("store error: %s", type(exc).__name__)
        return problem_response(503, "The store is unavailable; try again later.")

    return app

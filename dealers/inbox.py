"""The dealer inbox page: server-rendered HTML under ``/inbox`` (docs/api.md, "Inbox"), mounted
by ``create_app`` beside the API; none of it is in the API's OpenAPI document.

Staff sign in with a dealer API key (``POST /inbox/login``), which opens a session
(dealers/sessions.py) held in an HttpOnly, SameSite=Strict cookie on ``/inbox``. Pages: the
dealer's alerts in force, most pressing first, each acknowledged by a form; a vehicle's odometer
history and forecast (a chart drawn by the vendored uPlot), warranty timeline and next bill. The
alerts are those of ``GET /v1/alerts`` (the same store queries: hidden alerts and those whose
purpose's consent is withdrawn never show); a vehicle or alert of another dealer is the same
404 as one that does not exist. Every form carries the session's anti-forgery token (the
sign-in form a token of its own cookie), a cross-site POST is refused, sign-ins are rate-limited
per client address and pages per key, and every page forbids inline scripts (CSP).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealers import sessions, store
from dealers.keys import hash_key, looks_like_key
from dealers.ratelimit import RateLimiter
from dealers.storegate import StoreGate
from dealers.vehicle_view import bill_of, chart_series, usage_of, warranty_rows

PREFIX = "/inbox"
SESSION_COOKIE = "jg_inbox"
LOGIN_COOKIE = "jg_inbox_login"
LOGIN_COOKIE_S = 3600
INBOX_LIMIT = 200
HISTORY_SPAN = timedelta(days=365)
FORM_MAX_BYTES = 8192
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
_BAD_KEY = "That key is not valid."
_ALERT_NOT_FOUND = "No alert with this id is available to this dealer."
_VEHICLE_NOT_FOUND = "No vehicle with this VIN is available to this dealer."
_FORGED = "This form is out of date or did not come from this page: reload it and try again."


@dataclass(frozen=True, slots=True)
class _Config:
    store: StoreGate
    limiter: RateLimiter
    session_lifetime: timedelta
    alert_types: tuple[str, ...]


def _config(request: Request) -> _Config:
    config: _Config = request.app.state.dealer_inbox
    return config


class _Refused(Exception):
    """A request answered with the message page (status and a plain sentence)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class _SignInNeeded(Exception):
    """No live session: the browser is sent to the sign-in form."""


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def _day(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def _km(value: object, metres: bool = False) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "\u2013"
    return f"{(value / 1000 if metres else value):,.0f} km"


def _segment(value: object) -> str:
    """``value`` as one path segment (every reserved character escaped)."""
    return quote(str(value), safe="")


def _money(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "\u2013"
    return f"{value:,.2f}"


_templates = Environment(
    loader=PackageLoader("dealers", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(when=_when, day=_day, km=_km, money=_money, segment=_segment)


def _page(
    name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = _templates.get_template(name).render(prefix=PREFIX, **context)
    return HTMLResponse(html, status, headers={"Cache-Control": "no-store", **(headers or {})})


class _SecurityHeaders:
    """Adds the inbox's security headers (CSP and others) to every answer under ``/inbox``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _connection(request: Request) -> Iterator[store.Conn]:
    with _config(request).store.connection() as conn:
        yield conn


Connection = Annotated[store.Conn, Depends(_connection)]


async def _form(request: Request) -> list[tuple[str, str]]:
    """The fields of a URL-encoded form body (at most :data:`FORM_MAX_BYTES`)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return []
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            raise _Refused(413, "This form is too large.")
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=64)


Form = Annotated[list[tuple[str, str]], Depends(_form)]


def _field(form: Sequence[tuple[str, str]], name: str) -> str:
    return next((value for key, value in form if key == name), "")


def _check_origin(request: Request) -> None:
    """Refuse a POST that a browser says came from another site."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise _Refused(403, _FORGED)
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise _Refused(403, _FORGED)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(limiter: RateLimiter, wait_s: float) -> dict[str, str]:
    return {"Retry-After": limiter.retry_after(wait_s)}


@dataclass(frozen=True, slots=True)
class _SignedIn:
    session: sessions.Session
    token: str


def _signed_in(request: Request, conn: Connection) -> _SignedIn:
    """The request's live session, within its key's rate; else to the sign-in form, or 429."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = sessions.find_session(conn, token) if token else None
    if session is None:
        raise _SignInNeeded()
    limiter = _config(request).limiter
    wait = limiter.take(session.key_id)
    if wait > 0:
        raise _Refused(
            429, "Too many requests with this key: wait a moment.", _too_many(limiter, wait)
        )
    return _SignedIn(session, token)


SignedIn = Annotated[_SignedIn, Depends(_signed_in)]


def _checked(request: Request, signed: _SignedIn, form: Sequence[tuple[str, str]]) -> None:
    """A state-changing form: same origin and the session's anti-forgery token."""
    _check_origin(request)
    if not sessions.same_token(_field(form, "csrf"), signed.session.csrf_token):
        raise _Refused(403, _FORGED)


@dataclass(frozen=True, slots=True)
class Filters:
    """The alert list's filters, as the query string (or an acknowledging form) gives them."""

    alert_type: str | None
    states: tuple[str, ...]
    vin: str | None

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, str]]) -> Filters:
        alert_type = _field(pairs, "type").strip()[:64] or None
        picked = {v for k, v in pairs if k == "state"}
        states = tuple(s for s in store.LISTED_STATES if s in picked) or store.DEFAULT_STATES
        vin = _field(pairs, "vehicle").strip().upper()[:17] or None
        return cls(alert_type, states, vin)

    def pairs(self) -> list[tuple[str, str]]:
        """The filters as query pairs; the default states are left out."""
        out: list[tuple[str, str]] = []
        if self.alert_type:
            out.append(("type", self.alert_type))
        if self.states != store.DEFAULT_STATES:
            out.extend(("state", s) for s in self.states)
        if self.vin:
            out.append(("vehicle", self.vin))
        return out

    def url(self) -> str:
        query = urlencode(self.pairs())
        return f"{PREFIX}?{query}" if query else PREFIX


router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _login_form(
    request: Request, status: int = 200, error: str | None = None, **headers: str
) -> HTMLResponse:
    """The sign-in form, with a fresh anti-forgery token in it and in its own cookie."""
    token = sessions.new_token()
    hours = _config(request).session_lifetime.total_seconds() / 3600
    response = _page(
        "login.html", status, headers, dealer=None, csrf=token, error=error, hours=f"{hours:g}"
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_COOKIE_S,
        path=f"{PREFIX}/login",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, conn: Connection) -> Response:
    """The sign-in form; the list when the browser's session is still live."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token and sessions.find_session(conn, token) is not None:
        return RedirectResponse(PREFIX, 303)
    return _login_form(request)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, conn: Connection, form: Form) -> Response:
    """Open a session with an API key (rate-limited per client address)."""
    config = _config(request)
    wait = config.limiter.take(("sign-in", _client(request)))
    if wait > 0:
        return _login_form(
            request,
            429,
            "Too many sign-in attempts from this address: wait a moment and try again.",
            **_too_many(config.limiter, wait),
        )
    _check_origin(request)
    if not sessions.same_token(_field(form, "csrf"), request.cookies.get(LOGIN_COOKIE, "-")):
        return _login_form(request, 403, _FORGED)
    key = _field(form, "key").strip()
    caller = store.authenticate(conn, hash_key(key)) if looks_like_key(key) else None
    if caller is None:
        return _login_form(request, 401, _BAD_KEY)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        sessions.close_session(conn, previous)
    token, _ = sessions.open_session(conn, caller, config.session_lifetime)
    response = RedirectResponse(PREFIX, 303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(config.session_lifetime.total_seconds()),
        path=PREFIX,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
    return response


@router.post("/logout")
def logout(request: Request, conn: Connection, signed: SignedIn, form: Form) -> Response:
    """End the session and go back to the sign-in form."""
    _checked(request, signed, form)
    sessions.close_session(conn, signed.token)
    response = RedirectResponse(f"{PREFIX}/login", 303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.get("", response_class=HTMLResponse)
def inbox(request: Request, conn: Connection, signed: SignedIn) -> HTMLResponse:
    """The dealer's visible alerts, most pressing first (priority, severity, newest)."""
    dealer_id = signed.session.dealer_id
    filters = Filters.of(list(request.query_params.multi_items()))
    rows = store.alerts_by_priority(
        conn,
        dealer_id,
        states=filters.states,
        alert_type=filters.alert_type,
        vin=filters.vin,
        limit=INBOX_LIMIT + 1,
    )
    types = set(_config(request).alert_types)
    if filters.alert_type:
        types.add(filters.alert_type)
    return _page(
        "inbox.html",
        dealer=dealer_id,
        csrf=signed.session.csrf_token,
        alerts=rows[:INBOX_LIMIT],
        more=len(rows) > INBOX_LIMIT,
        limit=INBOX_LIMIT,
        filters=filters,
        filter_pairs=filters.pairs(),
        alert_types=sorted(types),
        all_states=store.LISTED_STATES,
        today=datetime.now(UTC).date(),
    )


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    request: Request, conn: Connection, signed: SignedIn, form: Form, alert_id: str
) -> Response:
    """Acknowledge an alert from the list, then back to the list with its filters."""
    _checked(request, signed, form)
    back = Filters.of(form).url()
    if store.acknowledge(conn, signed.session.dealer_id, alert_id) is None:
        return _page(
            "message.html",
            404,
            dealer=signed.session.dealer_id,
            csrf=signed.session.csrf_token,
            title="Not found",
            message=_ALERT_NOT_FOUND,
            back=back,
        )
    return RedirectResponse(back, 303)


@router.get("/vehicles/{vin}", response_class=HTMLResponse)
def vehicle(request: Request, conn: Connection, signed: SignedIn, vin: str) -> HTMLResponse:
    """A vehicle of the dealer: odometer history and forecast, warranty timeline, next bill."""
    dealer_id = signed.session.dealer_id
    record = store.read_vehicle(conn, dealer_id, vin, timeline_limit=0)
    if record is None:
        return _page(
            "message.html",
            404,
            dealer=dealer_id,
            csrf=signed.session.csrf_token,
            title="Not found",
            message=_VEHICLE_NOT_FOUND,
            back=PREFIX,
        )
    state = record.state
    days = store.odometer_days(conn, dealer_id, vin, HISTORY_SPAN)
    registry = record.registry
    return _page(
        "vehicle.html",
        dealer=dealer_id,
        csrf=signed.session.csrf_token,
        vin=registry["vin"],
        registry=registry,
        consent={
            p: record.consent.get(p, False)
            for p in ("service_reminders", "marketing_offers", "location")
        },
        state=state,
        readings=len(days),
        usage=usage_of(state),
        chart=chart_series(days, state),
        warranty=warranty_rows(
            None if state is None else state.get("warranty"), registry["delivery_date"], state
        ),
        bill=bill_of(None if state is None else state.get("service")),
        alerts_url=Filters(None, store.DEFAULT_STATES, registry["vin"]).url(),
    )


def mount_inbox(
    app: FastAPI,
    store_gate: StoreGate,
    *,
    limiter: RateLimiter,
    session_lifetime_s: float = sessions.DEFAULT_LIFETIME_S,
) -> None:
    """Serve the inbox page on ``app`` under ``/inbox`` (its static files under
    ``/inbox/static``), over ``store_gate``'s connections; ``limiter`` counts sign-ins per client
    address and pages per key (the API's, so that a key has one budget)."""
    from processors.journey.rules import load_rules

    if not 0 < session_lifetime_s <= 366 * 86_400:
        raise ValueError("session_lifetime_s must be above 0 and at most a year")
    app.state.dealer_inbox = _Config(
        store=store_gate,
        limiter=limiter,
        session_lifetime=timedelta(seconds=session_lifetime_s),
        alert_types=tuple(load_rules().alerts),
    )
    app.include_router(router)
    app.mount(
        f"{PREFIX}/static", StaticFiles(packages=[("dealers", "static")]), name="inbox-static"
    )
    app.add_middleware(_SecurityHeaders)

    @app.exception_handler(_Refused)
    async def _refused(request: Request, exc: _Refused) -> Response:
        return _page(
            "message.html",
            exc.status,
            exc.headers,
            dealer=None,
            csrf="",
            title="Refused" if exc.status < 500 else "Unavailable",
            message=exc.message,
            back=PREFIX,
        )

    @app.exception_handler(_SignInNeeded)
    async def _sign_in(request: Request, exc: _SignInNeeded) -> Response:
        response = RedirectResponse(f"{PREFIX}/login", 303)
        if SESSION_COOKIE in request.cookies:
            response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

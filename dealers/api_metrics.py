"""The dealer API's Prometheus metrics (``journeygate api --metrics-port``): requests by route
template, method and status, and their time. Labels are bounded: the route is the template
(``/v1/vehicles/{vin}``), never the path a client sent; a path matching no route is ``other``."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.metrics import counter, histogram

STAGE = "api"
_requests = counter(
    STAGE, "requests_total", "Requests answered, by route, method and status.",
    ("route", "method", "status"),
)  # fmt: skip
_seconds = histogram(STAGE, "request_seconds", "Time from a request to its answer's start.")


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request (a stream until its headers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", None) or "other"
                method = str(scope.get("method", ""))
                _requests.labels(template, method, str(message["status"])).inc()
                _seconds.observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, counted)

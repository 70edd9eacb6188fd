"""Health of a stage process: ``/healthz`` (alive) and ``/readyz`` (ready) beside its metrics.

A stage process serves one HTTP port (``metrics_port``): ``GET /healthz`` answers 200 while the
process's event loop turns (:class:`Liveness`), ``GET /readyz`` answers 200 only when every
condition its runner declared is met (:class:`Readiness`: connected to Kafka, to PostgreSQL, to
the MQTT broker, partitions assigned), and any other path serves the Prometheus metrics as
before. A 503 carries a short plain-text reason naming each unmet condition.

A runner declares its conditions and reports them through :func:`readiness`, by stage name::

    ready = readiness("store")
    ready.require("kafka", "not connected to Kafka yet")
    ...
    ready.met("kafka")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

# /healthz fails once the event loop has not beaten for this long: hung, not merely busy with a
# large batch (a batch takes seconds at most; Docker's check allows 3 failures 15 s apart).
LIVENESS_STALE_S = 60.0
# How often a running stage's event loop beats (see kernel.runtime).
BEAT_INTERVAL_S = 1.0
# The condition every stage has: its main coroutine runs and has not been asked to stop.
RUNNING = "running"

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class Readiness:
    """Named conditions of one stage, each met or not with a short reason; thread-safe (the
    HTTP server reads it from its own threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unmet: dict[str, str] = {}

    def require(self, name: str, why: str) -> None:
        """Declare condition ``name``, unmet for ``why`` until :meth:`met`."""
        with self._lock:
            self._unmet[name] = why

    def met(self, name: str) -> None:
        with self._lock:
            self._unmet.pop(name, None)

    def unmet(self, name: str, why: str) -> None:
        with self._lock:
            self._unmet[name] = why

    def set(self, name: str, ok: bool, why: str) -> None:
        """:meth:`met` if ``ok``, else :meth:`unmet` for ``why``."""
        if ok:
            self.met(name)
        else:
            self.unmet(name, why)

    def reasons(self) -> dict[str, str]:
        """The unmet conditions and why; empty when ready."""
        with self._lock:
            return dict(sorted(self._unmet.items()))

    @property
    def ready(self) -> bool:
        with self._lock:
            return not self._unmet

    def reset(self) -> None:
        """Forget every condition (a stage started again in the same process)."""
        with self._lock:
            self._unmet.clear()


class Liveness:
    """When the stage's event loop last beat (monotonic s); a fresh one counts as a beat."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def silent_s(self) -> float:
        """Seconds since the last beat."""
        return self._clock() - self._last

    @property
    def alive(self) -> bool:
        return self.silent_s() < LIVENESS_STALE_S


_readiness: dict[str, Readiness] = {}
_liveness: dict[str, Liveness] = {}
_lock = threading.Lock()


def readiness(stage: str) -> Readiness:
    """The readiness of ``stage`` in this process (the same object on every call)."""
    with _lock:
        found = _readiness.get(stage)
        if found is None:
            found = _readiness[stage] = Readiness()
        return found


def liveness(stage: str) -> Liveness:
    """The liveness of ``stage`` in this process (the same object on every call)."""
    with _lock:
        found = _liveness.get(stage)
        if found is None:
            found = _liveness[stage] = Liveness()
        return found


def health_app(metrics: WsgiApp, ready: Readiness, alive: Liveness) -> WsgiApp:
    """``/healthz`` and ``/readyz`` answered here, every other path by ``metrics``."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            silent_s = alive.silent_s()
            if silent_s < LIVENESS_STALE_S:
                return _text(start_response, 200, "ok")
            return _text(start_response, 503, f"event loop silent for {silent_s:.0f} s")
        if path == "/readyz":
            unmet = ready.reasons()
            if not unmet:
                return _text(start_response, 200, "ready")
            why = "; ".join(f"{name}: {reason}" for name, reason in unmet.items())
            return _text(start_response, 503, f"not ready: {why}")
        return metrics(environ, start_response)

    return app


def _text(start_response: StartResponse, status: int, body: str) -> list[bytes]:
    data = (body + "\n").encode()
    phrase = "OK" if status == 200 else "Service Unavailable"
    start_response(
        f"{status} {phrase}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged (Prometheus and Docker ask every few seconds)."""


def serve(port: int, stage: str, registry: CollectorRegistry, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve ``stage``'s health and ``registry``'s metrics on ``addr:port`` from a daemon
    thread; returns the server (``shutdown()`` stops it)."""
    app = health_app(make_wsgi_app(registry), readiness(stage), liveness(stage))
    server = make_server(addr, port, app, _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name=f"{stage}-http", daemon=True).start()
    return server

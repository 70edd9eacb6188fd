"""``/healthz`` and ``/readyz`` beside the metrics: readiness from named conditions, liveness
from the event loop's beats, every other path the Prometheus exposition."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults

from prometheus_client import CollectorRegistry, Counter, make_wsgi_app

from kernel.health import LIVENESS_STALE_S, Liveness, Readiness, health_app


def _get(app: Any, path: str) -> tuple[str, str]:
    environ: dict[str, Any] = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    seen: list[str] = []

    def start_response(status: str, headers: Iterable[tuple[str, str]], *rest: Any) -> None:
        seen.append(status)

    body = b"".join(app(environ, start_response)).decode()
    return seen[0], body


class _Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def _app() -> tuple[Any, Readiness, _Clock]:
    registry = CollectorRegistry()
    Counter("journeygate_test_things_total", "Things", registry=registry).inc()
    ready, clock = Readiness(), _Clock()
    return health_app(make_wsgi_app(registry), ready, Liveness(clock)), ready, clock


def test_ready_once_every_declared_condition_is_met() -> None:
    app, ready, _ = _app()
    assert _get(app, "/readyz") == ("200 OK", "ready\n")  # nothing declared
    ready.require("kafka", "not connected to Kafka yet")
    ready.require("partitions", "no partitions assigned yet")
    status, body = _get(app, "/readyz")
    assert status.startswith("503")
    assert body == (
        "not ready: kafka: not connected to Kafka yet; partitions: no partitions assigned yet\n"
    )
    ready.met("kafka")
    assert _get(app, "/readyz")[1] == "not ready: partitions: no partitions assigned yet\n"
    ready.set("partitions", True, "unused")
    assert _get(app, "/readyz")[0] == "200 OK"
    ready.unmet("kafka", "lost")
    assert _get(app, "/readyz") == ("503 Service Unavailable", "not ready: kafka: lost\n")


def test_alive_while_the_loop_beats_and_not_once_it_is_silent() -> None:
    app, _, clock = _app()
    assert _get(app, "/healthz") == ("200 OK", "ok\n")
    clock.now_s += LIVENESS_STALE_S + 1
    status, body = _get(app, "/healthz")
    assert status.startswith("503") and "silent for 61 s" in body


def test_every_other_path_serves_the_metrics() -> None:
    app, ready, _ = _app()
    ready.require("kafka", "down")
    for path in ("/metrics", "/", "/anything/else"):
        status, body = _get(app, path)
        assert status.startswith("200") and "journeygate_test_things_total 1.0" in body, path

"""``journeygate api --metrics-port``, as production runs it: its requests counted by route
template and status, ``/healthz`` and ``/readyz`` on the metrics port, a clean stop on SIGTERM;
and the API on a store not migrated yet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from database.migrate import migrate
from dealers import api_metrics
from dealers.api import create_app
from journeygate.embedded.procs import free_port
from kernel.health import readiness
from kernel.settings import Settings, load_settings

pytestmark = pytest.mark.integration


def get(port: int, path: str) -> tuple[int, str]:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
    except httpx.HTTPError as exc:
        return 0, str(exc)
    return answer.status_code, answer.text


def test_the_api_serves_its_metrics_and_health_on_its_own_port(settings: Settings) -> None:
    api_port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYGATE_")}
    argv = [sys.executable, "-m", "journeygate", "api", "--port", str(api_port),
            "--metrics-port", str(metrics_port),
            "--database-url", settings.database_url]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while get(api_port, "/openapi.json")[0] != 200:
            assert proc.poll() is None and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
        assert get(metrics_port, "/healthz")[0] == 200
        assert get(metrics_port, "/readyz") == (200, "ready\n")
        for path in ("/v1/alerts", "/v1/vehicles/1HGCM82633A004352", "/v1/vehicles/X"):
            assert get(api_port, path)[0] == 401  # no key
        assert get(api_port, "/no/such/path")[0] == 404
        _, text = get(metrics_port, "/metrics")
        counted = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line.startswith("journeygate_api_requests_total{")
        }
        name = "journeygate_api_requests_total"
        expected = {
            f'{name}{{method="GET",route="/v1/alerts",status="401"}}': 1.0,
            f'{name}{{method="GET",route="/v1/vehicles/{{vin}}",status="401"}}': 2.0,
            f'{name}{{method="GET",route="other",status="404"}}': 1.0,
        }
        for name, value in expected.items():
            assert counted.get(name) == value, counted
        assert "journeygate_api_request_seconds_count" in text
        assert "journeygate_store_" not in text  # only the API's own metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err  # a clean stop, as every journeygate process
    assert "Application shutdown complete" in err and "Traceback" not in err, err


def test_the_api_answers_503_until_its_store_is_migrated_then_at_once(bare_database: str) -> None:
    key = {"Authorization": "Bearer jg_not_a_key_of_anyone"}
    with TestClient(create_app(load_settings(database_url=bare_database))) as client:
        for _ in range(2):  # the store checked again at each request
            answer = client.get("/v1/alerts", headers=key)
            assert answer.status_code == 503, answer.text
            assert answer.json()["detail"] == "The store is unavailable; try again later."
        why = readiness(api_metrics.STAGE).reasons().get("postgresql", "")
        assert "not migrated" in why and "run `journeygate migrate`" in why, why
        migrate(bare_database)
        answer = client.get("/v1/alerts", headers=key)  # not after the start-up backoff
        assert answer.status_code == 401, answer.text
        assert "postgresql" not in readiness(api_metrics.STAGE).reasons()

"""``journeygate simulate`` tells the truth about its run: publishes an MQTT 5 broker refused
(a private Mosquitto whose ACL denies the topic: PUBACK 0x87, not authorized) are counted as
rejected and make it exit 1; ``--plan-only`` refuses a period that ends in the future as the
run does; ``--metrics-port`` serves the simulator's metrics while it runs."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from journeygate.embedded.mqtt import find_mosquitto
from journeygate.embedded.procs import Child, free_port
from kernel.settings import Settings
from simulator.cli import register

pytestmark = pytest.mark.integration


@pytest.fixture
def denying_broker(tmp_path: Path) -> Iterator[str]:
    """A Mosquitto that lets anyone connect and publishes nowhere but ``allowed/#``."""
    mosquitto = find_mosquitto()
    assert mosquitto, "needs Debian's mosquitto"
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite allowed/#\n")
    port = free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        f"acl_file {acl}",
        "log_type error",
    ]
    if os.geteuid() == 0:  # else Mosquitto drops to its own user, who cannot read the ACL
        lines.append("user root")
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    child = Child("mosquitto", [mosquitto, "-c", str(conf)], log_path=tmp_path / "mosquitto.log")
    try:
        child.wait_for_port("127.0.0.1", port)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        child.stop()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    return app


def _simulate(settings: Settings, *args: str) -> list[str]:
    return [
        "simulate",
        "--acks",
        "ignore",
        "--database-url",
        settings.database_url,
        "--mqtt-topic-root",
        settings.mqtt_topic_root,
        "--no-services",
        "--vehicles",
        "2",
        "--days",
        "1",
        "--now",
        "2026-03-01T12:00:00Z",
        *args,
    ]


def test_publishes_the_broker_refused_are_rejected_and_the_run_fails(
    settings: Settings, denying_broker: str, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    args = ["--mqtt-url", denying_broker, "--mqtt-protocol", "5", "--truth", str(truth)]
    result = CliRunner().invoke(_app(), _simulate(settings, *args))
    assert result.exit_code == 1, result.output
    end = json.loads(truth.read_text().splitlines()[-1])
    assert end["type"] == "end" and end["acknowledged"] == 0
    assert end["rejected"] == end["published"] > 0
    assert f"0 acknowledged, {end['rejected']} rejected by the broker" in result.output
    assert "Not authorized" in result.output
    assert "rejected" in result.output.strip().splitlines()[-1]


def test_plan_only_refuses_a_period_ending_in_the_future_as_the_run_does(
    settings: Settings,
) -> None:
    future = _simulate(settings, "--mqtt-url", settings.mqtt_url)
    future[future.index("2026-03-01T12:00:00Z")] = "2999-01-01T00:00:00Z"
    planned = CliRunner().invoke(_app(), [*future, "--plan-only"])
    run = CliRunner().invoke(_app(), future)
    assert planned.exit_code == run.exit_code == 2, planned.output + run.output
    assert "after the wall clock" in planned.output and "after the wall clock" in run.output


def test_metrics_port_serves_the_simulator_metrics_while_it_runs(settings: Settings) -> None:
    port = free_port()
    args = ["--mqtt-url", settings.mqtt_url, "--rate", "20", "--metrics-port", str(port)]
    scraped: list[str] = []

    def scrape() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not scraped:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.05)
                continue
            if "journeygate_simulator_messages_published_total{" in body:
                scraped.append(body)
            time.sleep(0.05)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    result = CliRunner().invoke(_app(), _simulate(settings, *args))
    scraper.join()
    assert result.exit_code == 0, result.output
    assert scraped, "nothing served on --metrics-port"
    assert "journeygate_simulator_messages_acknowledged_total" in scraped[0]

"""``journeygate webhooks`` against a real PostgreSQL and a local HTTP receiver: failures,
timeouts and recovery end with every alert delivered and validly signed, repeats only under the
same delivery id; a delivery dies after its attempts and comes back with a replay; a sender
killed with SIGKILL mid-delivery leaves the alert to be sent again by the next one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import psycopg
import pytest
import typer
from test_webhooks_outbox import alert, batch, write
from typer.testing import CliRunner

from dealers import webhook_metrics
from dealers.cli import register
from dealers.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    SenderOptions,
    run_sender,
    verify_signature,
)
from kernel.metrics import registry
from kernel.settings import Settings

pytestmark = pytest.mark.integration


@dataclass
class Received:
    delivery_id: str
    signature: str
    body: bytes


@dataclass
class Receiver:
    """A local webhook endpoint; ``answer(delivery_id, nth)`` decides each response (nth counts
    the requests of that delivery id from 1)."""

    answer: Callable[[str, int], int]
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def nth(self, delivery_id: str) -> int:
        with self.lock:
            return sum(1 for r in self.received if r.delivery_id == delivery_id)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(answer=lambda _d, _n: 200)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            delivery = self.headers.get(DELIVERY_HEADER, "")
            with box.lock:
                box.received.append(Received(delivery, self.headers.get(SIGNATURE_HEADER, ""),
                                             body))  # fmt: skip
                n = sum(1 for r in box.received if r.delivery_id == delivery)
            status = box.answer(delivery, n)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender is gone

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/jg"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    return app


def set_up(settings: Settings, url: str) -> str:
    """A dealer DLR-W with a webhook to ``url``; the generated secret."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO dealers (dealer_id) VALUES ('DLR-W')")
    result = CliRunner().invoke(
        cli(), ["dealers", "webhook", "set", "DLR-W", url, "--database-url", settings.database_url]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("whsec_") and result.stdout.count("\n") == 1
    assert secret not in result.stderr
    return secret


def states(settings: Settings) -> dict[str, tuple[str, int, str | None]]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT delivery_id, state, attempts, last_error FROM webhook_outbox"
        ).fetchall()
    return {str(r[0]): (str(r[1]), int(r[2]), r[3]) for r in rows}


def drive(
    settings: Settings, options: SenderOptions, done: Callable[[], bool], limit_s: float
) -> None:
    """Run the sender until ``done()`` (checked every 0.1 s) or ``limit_s``."""

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_sender(settings.database_url, options, stop))
        deadline = time.monotonic() + limit_s
        while not await asyncio.to_thread(done) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(go())


FAST = SenderOptions(batch=3, timeout_s=0.5, lease_s=2.0, base_s=0.02, cap_s=0.1, poll_s=0.05)


def test_failures_and_timeouts_then_every_alert_delivered_once_per_id(
    settings: Settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    secret = set_up(settings, receiver.url)
    alerts = [alert(n, "DLR-W") for n in range(1, 6)]
    write(settings, batch(*alerts))
    ids = {a.alert_id for a in alerts}

    def answer(_delivery: str, n: int) -> int:
        if n == 1:
            return 500
        if n == 2:
            time.sleep(1.0)  # past the sender's timeout: accepted here, unknown to the sender
            return 200
        return 204

    receiver.answer = answer
    caplog.set_level("DEBUG")
    drive(settings, FAST, lambda: all(s[0] == "delivered" for s in states(settings).values()),
          20)  # fmt: skip

    final = states(settings)
    assert set(final) == ids
    assert all(s == ("delivered", 3, None) for s in final.values()), final
    assert {r.delivery_id for r in receiver.received} == ids
    for r in receiver.received:
        assert verify_signature(secret, r.body, r.signature)
        assert orjson.loads(r.body)["alert_id"] == r.delivery_id
    for delivery_id in ids:
        bodies = {r.body for r in receiver.received if r.delivery_id == delivery_id}
        assert len(bodies) == 1  # a repeat is the same document under the same id
        assert receiver.nth(delivery_id) == 3
    assert secret not in caplog.text
    assert receiver.url not in caplog.text


def delivered_metric(outcome: str | None) -> float:
    """``journeygate_webhooks_deliveries_total{outcome}``, or the requests timed (None)."""
    reg = registry(webhook_metrics.STAGE)
    if outcome is None:
        return reg.get_sample_value("journeygate_webhooks_request_seconds_count") or 0.0
    name = "journeygate_webhooks_deliveries_total"
    return reg.get_sample_value(name, {"outcome": outcome}) or 0.0


def test_dead_after_the_attempts_then_replayed(settings: Settings, receiver: Receiver) -> None:
    secret = set_up(settings, receiver.url)
    raised = alert(1, "DLR-W")
    write(settings, batch(raised))
    receiver.answer = lambda _d, _n: 500
    options = SenderOptions(batch=3, timeout_s=1.0, lease_s=2.0, max_attempts=3, base_s=0.02,
                            cap_s=0.05, poll_s=0.05)  # fmt: skip
    before = {o: delivered_metric(o) for o in ("delivered", "retry", "dead")}
    requests_before = delivered_metric(None)
    drive(settings, options, lambda: states(settings)[raised.alert_id][0] == "dead", 10)
    assert states(settings) == {raised.alert_id: ("dead", 3, "HTTP 500")}
    assert receiver.nth(raised.alert_id) == 3
    # what the alert rule JourneygateWebhookDeadLetters watches (deploy/prometheus)
    after = {o: delivered_metric(o) - before[o] for o in before}
    assert after == {"delivered": 0, "retry": 2, "dead": 1}
    assert delivered_metric(None) - requests_before == 3

    # Nothing more is sent for a dead delivery.
    asyncio.run(run_sender(settings.database_url, options, asyncio.Event(), once=True))
    assert receiver.nth(raised.alert_id) == 3

    url = ["--database-url", settings.database_url]
    runner = CliRunner()
    replayed = runner.invoke(cli(), ["dealers", "webhook", "replay", "DLR-W", *url])
    assert replayed.exit_code == 0, replayed.output
    assert "1 dead deliveries queued again" in replayed.stdout
    assert states(settings) == {raised.alert_id: ("new", 0, None)}

    receiver.answer = lambda _d, _n: 200
    asyncio.run(run_sender(settings.database_url, options, asyncio.Event(), once=True))
    assert states(settings) == {raised.alert_id: ("delivered", 1, None)}
    last = receiver.received[-1]
    assert last.delivery_id == raised.alert_id and verify_signature(secret, last.body,
                                                                     last.signature)  # fmt: skip

    unknown = runner.invoke(cli(), ["dealers", "webhook", "replay", "DLR-NONE", *url])
    assert unknown.exit_code == 1 and unknown.stderr.count("\n") == 1
    bad = runner.invoke(cli(), ["dealers", "webhook", "set", "DLR-W", "ftp://x/", *url])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "URL" in bad.stderr
    missing = runner.invoke(
        cli(), ["dealers", "webhook", "set", "DLR-NONE", "https://x.example/", *url]
    )
    assert missing.exit_code == 1 and "DLR-NONE" in missing.stderr
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    given = runner.invoke(cli(), ["dealers", "webhook", "set", "DLR-W", receiver.url,
                                  "--secret", "s" * 20, *url])  # fmt: skip
    assert given.exit_code == 0 and given.stdout == "" and "s" * 20 not in given.stderr


def sender(settings: Settings) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "journeygate", "webhooks", "--database-url",
         settings.database_url, "--timeout", "2", "--lease", "3", "--poll", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def test_a_sender_killed_mid_delivery_leaves_the_alert_to_the_next(
    settings: Settings, receiver: Receiver
) -> None:
    secret = set_up(settings, receiver.url)
    raised = alert(1, "DLR-W")
    write(settings, batch(raised))
    arrived = threading.Event()
    release = threading.Event()

    def answer(_delivery: str, n: int) -> int:
        if n == 1:
            arrived.set()
            release.wait(30)  # the sender dies before this answer
        return 200

    receiver.answer = answer
    first = sender(settings)
    try:
        assert arrived.wait(30), "the first sender sent nothing"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
        release.set()
    assert first.returncode == -signal.SIGKILL
    assert states(settings) == {raised.alert_id: ("new", 1, None)}  # leased, not delivered

    second = sender(settings)
    try:
        deadline = time.monotonic() + 30
        while states(settings)[raised.alert_id][0] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)
        second.send_signal(signal.SIGTERM)
        _out, err = second.communicate(timeout=15)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, err
    assert states(settings) == {raised.alert_id: ("delivered", 2, None)}
    assert [r.delivery_id for r in receiver.received] == [raised.alert_id, raised.alert_id]
    assert all(verify_signature(secret, r.body, r.signature) for r in receiver.received)
    assert secret not in err


def test_an_alert_hidden_before_delivery_is_withheld(
    settings: Settings, receiver: Receiver
) -> None:
    set_up(settings, receiver.url)
    kept, hidden = alert(1, "DLR-W"), alert(2, "DLR-W")
    write(settings, batch(kept, hidden))
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET state = 'hidden' WHERE alert_id = %s", (hidden.alert_id,))
    drive(settings, FAST, lambda: states(settings)[kept.alert_id][0] == "delivered", 10)
    final = states(settings)
    assert final[hidden.alert_id][0] == "dead" and "withheld" in str(final[hidden.alert_id][2])
    assert {r.delivery_id for r in receiver.received} == {kept.alert_id}

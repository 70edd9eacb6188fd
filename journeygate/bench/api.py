"""The dealer API and the webhook sender, each beside a ceiling (``--parts api``).

- **Alert listing**: ``journeygate api`` (the process production runs, under uvicorn, on a free
  port) over a scenario's database holding one dealer with :attr:`Sizes.api_alerts` alerts; N
  client threads (one keep-alive ``httpx.Client`` each) request the first page of
  ``GET /v1/alerts`` (50 alerts, a real key) for a fixed time. Its ceiling is a minimal FastAPI
  app (one JSON route, no key, no store) served the same way (uvicorn, access log on), with the
  same clients in the same run, interleaved. Figures: requests per second, the server process's
  requests per CPU-second (read from outside), P50 and P99 latency of every request.
- **Webhook deliveries**: the real sender (``dealers.webhooks.run_sender``, ``--once``) over
  :attr:`Sizes.webhook_deliveries` outbox rows to a local receiver (a bare ASGI app under uvicorn
  answering 204), in a worker process that measures its own CPU. Its ceiling: the same number
  of signed POSTs of the same body from one ``httpx.AsyncClient`` to the same receiver, as many
  at once as the sender's batch.

Worker processes: ``python -m journeygate.bench.api NAME '<args as JSON>'`` with NAME
``listing-ceiling`` or ``receiver`` (serve until stopped), ``sender`` or ``signed-posts``
(print a :class:`~journeygate.bench.stats.Run` as one JSON line).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from journeygate.bench.drive import BenchFailed
from journeygate.bench.lab import Lab
from journeygate.bench.options import Sizes
from journeygate.bench.procstat import Watched
from journeygate.bench.stats import Figure, Run, figure, percentile, ratio
from journeygate.embedded.procs import Child, free_port

Say = Callable[[str], None]
HOST = "127.0.0.1"
DEALER = "DLR-BENCH"
VEHICLES = 200
PAGE_SIZE = 50  # the API's default page
WEBHOOK_BATCH = 20  # the sender's default batch
RATE_LIMIT = 100_000  # the most `journeygate api --rate/--burst` take: never reached here
SECRET = "whsec_bench_" + "x" * 32
ALERTS_COPY = (
    "COPY alerts (alert_id, episode_id, vin, dealer_id, alert_type, stage, purpose, severity,"
    " priority, created_ts, expires_ts, reason, action, figures, state) FROM STDIN"
)
OUTBOX_COPY = "COPY webhook_outbox (delivery_id, dealer_id, alert_id, payload) FROM STDIN"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class HttpFigure:
    """Requests answered to N clients, median over the repetitions (CPU: the server's), and the
    latency of every request of every repetition."""

    figure: Figure
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class ApiResult:
    clients: int
    alerts: int
    duration_s: float
    listing: HttpFigure
    listing_ceiling: HttpFigure
    listing_ratio: float
    """Requests per second over the ceiling's."""
    listing_cpu_ratio: float
    """Requests per CPU-second of the server over the ceiling's."""
    deliveries: int
    webhooks: Figure
    webhooks_ceiling: Figure
    webhooks_ratio: float
    """Deliveries per second over the ceiling's signed POSTs per second."""
    webhooks_cpu_ratio: float


def run_api(lab: Lab, sizes: Sizes, say: Say) -> ApiResult:
    """Seed one dealer's alerts and webhook outbox, then measure the listing and the sender
    against their ceilings, ``sizes.reps`` times each, interleaved."""
    scenario = lab.scenario("api", VEHICLES)
    url = scenario.settings.database_url
    log_dir = scenario.log_dir
    receiver_port = free_port()
    key = _seed(url, sizes.api_alerts)
    env = {**os.environ, "JOURNEYGATE_DATABASE_URL": url}
    api_port, ceiling_port = free_port(), free_port()
    api_argv = [sys.executable, "-m", "journeygate", "api", "--port", str(api_port),
                "--rate", str(RATE_LIMIT), "--burst", str(RATE_LIMIT)]  # fmt: skip
    servers = [
        Child("api", api_argv, log_path=log_dir / "api.log", env=env),
        _worker("listing-ceiling", {"port": ceiling_port}, log_dir),
        _worker("receiver", {"port": receiver_port}, log_dir),
    ]
    try:
        for child, port in zip(servers, (api_port, ceiling_port, receiver_port), strict=True):
            child.wait_for_port(HOST, port)
        listing_runs: list[Run] = []
        ceiling_runs: list[Run] = []
        listing_ms: list[float] = []
        ceiling_ms: list[float] = []
        sender_runs: list[Run] = []
        posts_runs: list[Run] = []
        hook_url = f"http://{HOST}:{receiver_port}/hooks"
        body = orjson.dumps(_payload(0))
        for rep in range(sizes.reps):
            say(f"api {rep + 1}/{sizes.reps}: minimal FastAPI endpoint")
            run, ms = _load(f"http://{HOST}:{ceiling_port}/v1/alerts", {}, servers[1], sizes)
            ceiling_runs.append(run)
            ceiling_ms += ms
            say(f"api {rep + 1}/{sizes.reps}: GET /v1/alerts, {sizes.api_clients} clients")
            headers = {"Authorization": f"Bearer {key}"}
            run, ms = _load(f"http://{HOST}:{api_port}/v1/alerts", headers, servers[0], sizes)
            listing_runs.append(run)
            listing_ms += ms
            say(f"api {rep + 1}/{sizes.reps}: signed POSTs")
            posts_runs.append(
                _measure(
                    "signed-posts",
                    {"url": hook_url, "count": sizes.webhook_deliveries, "body": body.decode()},
                    log_dir,
                )
            )
            say(f"api {rep + 1}/{sizes.reps}: webhook sender")
            _queue_deliveries(url, hook_url, sizes.webhook_deliveries)
            sender_runs.append(_measure("sender", {"database_url": url}, log_dir))
    finally:
        for child in servers:
            child.stop()
    lab.release(scenario)
    listing = HttpFigure(
        figure("GET /v1/alerts", "req", listing_runs),
        percentile(listing_ms, 0.5),
        percentile(listing_ms, 0.99),
    )
    ceiling = HttpFigure(
        figure("minimal FastAPI endpoint", "req", ceiling_runs),
        percentile(ceiling_ms, 0.5),
        percentile(ceiling_ms, 0.99),
    )
    webhooks = figure("webhook sender", "delivery", sender_runs)
    posts = figure("signed POSTs, one client", "delivery", posts_runs)
    return ApiResult(
        clients=sizes.api_clients,
        alerts=sizes.api_alerts,
        duration_s=sizes.api_duration_s,
        listing=listing,
        listing_ceiling=ceiling,
        listing_ratio=_wall_ratio(listing.figure, ceiling.figure),
        listing_cpu_ratio=ratio(listing.figure, ceiling.figure),
        deliveries=sizes.webhook_deliveries,
        webhooks=webhooks,
        webhooks_ceiling=posts,
        webhooks_ratio=_wall_ratio(webhooks, posts),
        webhooks_cpu_ratio=ratio(webhooks, posts),
    )


def _wall_ratio(measured: Figure, ceiling: Figure) -> float:
    return measured.rate_per_s / ceiling.rate_per_s if ceiling.rate_per_s > 0 else math.nan


# --- seeding ---------------------------------------------------------------------------------


def _vin(n: int) -> str:
    return f"1HGCM82633A{n:06d}"


def _seed(database_url: str, alerts: int) -> str:
    """A dealer with ``alerts`` new alerts over its vehicles, and a key; the key."""
    from dealers.store import add_dealer

    figures = orjson.dumps([{"name": "days to service", "value": 32, "unit": "days"}]).decode()
    with psycopg.connect(database_url, autocommit=True) as conn:
        key = add_dealer(conn, DEALER, "Bench Motors").key
        with conn.cursor() as cur, cur.copy(ALERTS_COPY) as copy:
            for n in range(alerts):
                created = T0 + timedelta(minutes=n)
                copy.write_row(
                    (f"{_vin(n % VEHICLES)}:service_due:{n}:early", f"ep-{n}",
                     _vin(n % VEHICLES), DEALER, "service_due", "early", "service", "medium", 50,
                     created, created + timedelta(days=30),
                     "Next service due about 02 Apr 2026, about USD 310.00.",
                     "Invite the owner to book the service.", figures, "new")
                )  # fmt: skip
    return key


def _payload(n: int) -> dict[str, Any]:
    """A raised alert's webhook body, as the journey processor queues it."""
    created = T0 + timedelta(minutes=n)
    return {
        "event": "alert.raised",
        "alert_id": f"{_vin(n % VEHICLES)}:service_due:{n}:early",
        "vin": _vin(n % VEHICLES),
        "dealer_id": DEALER,
        "alert_type": "service_due",
        "subject": None,
        "stage": "early",
        "purpose": "service",
        "severity": "medium",
        "priority": 50,
        "created_ts": created.isoformat().replace("+00:00", "Z"),
        "expires_ts": (created + timedelta(days=30)).isoformat().replace("+00:00", "Z"),
        "reason": "Next service due about 02 Apr 2026, about USD 310.00.",
        "action": "Invite the owner to book the service.",
        "figures": [{"name": "days to service", "value": 32.0, "unit": "days", "text": "32 days"}],
    }


def _queue_deliveries(database_url: str, hook_url: str, count: int) -> None:
    """Point the dealer's webhook at ``hook_url`` and queue ``count`` new deliveries, due now
    (the outbox emptied first)."""
    from dealers.webhooks import set_webhook

    with psycopg.connect(database_url, autocommit=True) as conn:
        set_webhook(conn, DEALER, hook_url, SECRET)
        conn.execute("TRUNCATE webhook_outbox")
        with conn.cursor() as cur, cur.copy(OUTBOX_COPY) as copy:
            for n in range(count):
                payload = _payload(n)
                alert_id = payload["alert_id"]
                copy.write_row((alert_id, DEALER, alert_id, orjson.dumps(payload).decode()))


# --- measuring -------------------------------------------------------------------------------


def _worker(name: str, args: dict[str, Any], log_dir: Path) -> Child:
    """Start a serving worker process (stopped by the caller)."""
    argv = [sys.executable, "-m", "journeygate.bench.api", name, json.dumps(args)]
    return Child(name, argv, log_path=log_dir / f"{name}.log")


def _measure(name: str, args: dict[str, Any], log_dir: Path) -> Run:
    """Run a worker that measures itself to completion; its Run."""
    argv = [sys.executable, "-m", "journeygate.bench.api", name, json.dumps(args)]
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=log, check=False)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-1500:]
        raise BenchFailed(f"{name} exited with status {result.returncode}:\n{tail}")
    return Run(**json.loads(result.stdout.decode().strip().splitlines()[-1]))


def _load(
    url: str, headers: dict[str, str], server: Child, sizes: Sizes
) -> tuple[Run, list[float]]:
    """``sizes.api_clients`` threads request ``url`` as fast as they are answered for
    ``sizes.api_duration_s``, after one warm-up request each: the requests answered, the wall
    time to the last answer, the server's CPU meanwhile; and every request's latency in ms."""
    watched = Watched([server.pid])
    clients = sizes.api_clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    window: dict[str, float] = {}
    finished = [0.0] * clients

    def begin() -> None:
        window["start"] = time.monotonic()
        window["cpu"] = watched.cpu_s()

    barrier = threading.Barrier(clients, action=begin)

    def client(i: int) -> None:
        with httpx.Client(headers=headers, timeout=30.0) as http:
            try:
                http.get(url).raise_for_status()
                barrier.wait()
                end = window["start"] + sizes.api_duration_s
                own = latencies[i]
                while (sent := time.monotonic()) < end:
                    response = http.get(url)
                    own.append((time.monotonic() - sent) * 1000.0)
                    if response.status_code != 200:
                        failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                        return
            except (httpx.HTTPError, threading.BrokenBarrierError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                barrier.abort()
            finally:
                finished[i] = time.monotonic()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise BenchFailed(f"{url}: {failures[0]}")
    cpu = watched.cpu_s() - window["cpu"]
    every = [ms for own in latencies for ms in own]
    return Run(len(every), max(finished) - window["start"], cpu), every


# --- worker processes ------------------------------------------------------------------------


def _serve(app: Any, port: int, log_level: str) -> None:
    import uvicorn

    uvicorn.run(app, host=HOST, port=port, log_level=log_level)


def listing_ceiling_app() -> Any:
    """One JSON route answering an empty page: no key, no store."""
    from fastapi import FastAPI

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/alerts")
    def alerts() -> dict[str, Any]:
        return {"items": [], "next_cursor": None}

    return app


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads a request's body and answers 204: the far end of every delivery."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def sender(args: dict[str, Any]) -> Run:
    """``journeygate webhooks --once`` over the queued outbox: every delivery, once."""
    from dealers.webhooks import SenderOptions, run_sender

    async def deliver_all() -> None:
        await run_sender(args["database_url"], SenderOptions(), asyncio.Event(), once=True)

    wall, cpu = time.monotonic(), time.process_time()
    asyncio.run(deliver_all())
    run_wall, run_cpu = time.monotonic() - wall, time.process_time() - cpu
    with psycopg.connect(args["database_url"]) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'delivered'), count(*) FROM webhook_outbox"
        ).fetchone()
    assert row is not None
    if row[0] != row[1]:
        raise SystemExit(f"delivered {row[0]} of {row[1]}")
    return Run(int(row[0]), run_wall, run_cpu)


def signed_posts(args: dict[str, Any]) -> Run:
    """The same body POSTed ``count`` times, each signed as a delivery is, ``WEBHOOK_BATCH`` at
    once, from one client."""
    body = str(args["body"]).encode()
    count: int = args["count"]

    async def post(client: httpx.AsyncClient, n: int) -> None:
        stamp = str(int(time.time()))
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        headers = {
            "Content-Type": "application/json",
            "X-Journeygate-Delivery": str(n),
            "X-Journeygate-Signature": f"t={stamp},v1={mac.hexdigest()}",
        }
        response = await client.post(args["url"], content=body, headers=headers)
        response.raise_for_status()

    async def post_all() -> None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            for start in range(0, count, WEBHOOK_BATCH):
                batch = range(start, min(count, start + WEBHOOK_BATCH))
                await asyncio.gather(*(post(client, n) for n in batch))

    wall, cpu = time.monotonic(), time.process_time()
    asyncio.run(post_all())
    return Run(count, time.monotonic() - wall, time.process_time() - cpu)


def main(argv: list[str]) -> int:
    name, args = argv[1], json.loads(argv[2])
    if name == "listing-ceiling":
        _serve(listing_ceiling_app(), args["port"], "info")  # as `journeygate api` logs
    elif name == "receiver":
        _serve(receiver_app, args["port"], "warning")
    elif name in ("sender", "signed-posts"):
        run = sender(args) if name == "sender" else signed_posts(args)
        print(json.dumps(asdict(run)), flush=True)
    else:
        raise SystemExit(f"unknown worker {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

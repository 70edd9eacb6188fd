"""Running a stage as a process: signal handling, metrics and health endpoint, logs, one-line
fatal errors.

SIGTERM or SIGINT sets the stage's stop event: the stage finishes or abandons the batch in
hand (committing nothing that is not durable), closes its clients and returns, and the process
exits 0, whether or not its servers are reachable then. The port ``metrics_port`` serves the
stage's metrics, ``/healthz`` and ``/readyz`` (:mod:`kernel.health`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from kernel import health
from kernel.errors import ConfigError, InfrastructureError
from kernel.logs import configure_logging
from kernel.metrics import served_registry
from kernel.settings import Settings

StageMain = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]

log = logging.getLogger("journeygate")

# The cyclic garbage collector's generation thresholds while a stage runs (CPython's: 700, 10,
# 10). A stage allocates several objects per message, nearly all freed by reference counting;
# at the default, collections (most of them full ones, scanning every object alive) took about
# 10 % of the bridge's CPU, and about 3 % with (10,000, 10, 10) and the start-up objects frozen.
# The processors keep vehicle states in memory, which every older generation's collection walks:
# the journey processor's fold and decoding took 19.0 µs a signal at (10,000, 10, 10), 17.3 at
# (50,000, 20, 100) and 16.0 with no collection at all (in one process, the bench's input).
# The stages make almost no cyclic garbage (the journey's 16 young collections of a bench run,
# 9 ms each, found 29 unreachable objects in all), so a young generation of 500,000 costs no
# memory in practice, and bounds what a burst of cycles (tracebacks of retried failures) can
# hold; with it the journey processor's collections went from 1.6 µs a signal to none measurable.
GC_THRESHOLDS = (500_000, 20, 100)


def tune_gc() -> None:
    """Move everything allocated so far (modules, settings, clients) out of the collector's
    sight, and collect less often: see :data:`GC_THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


__all__ = ["GC_THRESHOLDS", "StageMain", "configure_logging", "run_stage", "tune_gc"]


def run_stage(name: str, main: StageMain, settings: Settings) -> int:
    """Run ``main(settings, stop)`` until it returns or SIGTERM/SIGINT sets ``stop``.

    ``name`` is the stage's name (as in its metric names): the metrics endpoint serves that
    stage's metrics only (see :func:`kernel.metrics.served_registry`).

    The port ``settings.metrics_port`` (if not 0) serves the stage's metrics, ``/healthz``
    (200 while the event loop turns) and ``/readyz`` (200 once the conditions the stage declared
    in :func:`kernel.health.readiness` are met, and the stage is not stopping).

    Returns the process exit status: 0 on a clean stop (also when the stop came while a server
    was unreachable), 1 for an infrastructure failure, 2 for bad configuration. Unexpected
    exceptions propagate (the stage crashes loudly).
    """
    configure_logging(settings.log_level, settings.log_format)
    ready = health.readiness(name)
    ready.reset()
    ready.require(health.RUNNING, "starting")
    alive = health.liveness(name)
    alive.beat()
    server = None
    if settings.metrics_port:
        try:
            server = health.serve(settings.metrics_port, name, served_registry(name))
        except OSError as exc:  # e.g. the port is taken
            print(
                f"journeygate {name}: cannot serve metrics on port {settings.metrics_port}"
                f" (metrics_port, JOURNEYGATE_METRICS_PORT): {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
    log.info("%s starting with %s", name, settings)
    tune_gc()
    stopping = False

    async def _beat(stop: asyncio.Event) -> None:
        while not stop.is_set():
            alive.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), health.BEAT_INTERVAL_S)

    async def _amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def _stop() -> None:
            nonlocal stopping
            stopping = True
            ready.unmet(health.RUNNING, "stopping")
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _stop)
        beating = asyncio.create_task(_beat(stop))
        ready.met(health.RUNNING)
        try:
            await main(settings, stop)
        finally:
            ready.unmet(health.RUNNING, "stopping")
            stop.set()
            await beating

    try:
        asyncio.run(_amain())
    except InfrastructureError as exc:
        if not stopping:
            print(f"journeygate {name}: {exc}", file=sys.stderr)
            return 1
        # Asked to stop while a server was failing: what was not durable was not committed.
        log.warning("%s stopped while a server was unreachable: %s", name, exc)
    except ConfigError as exc:
        print(f"journeygate {name}: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    log.info("%s stopped", name)
    return 0

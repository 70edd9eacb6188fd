"""Running a stage as a process: signal handling, metrics endpoint, one-line fatal errors."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import start_http_server

from kernel.errors import ConfigError, InfrastructureError
from kernel.metrics import served_registry
from kernel.settings import Settings

StageMain = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]

log = logging.getLogger("journeygate")

# The cyclic garbage collector's generation thresholds while a stage runs (CPython's: 700, 10,
# 10). A stage allocates several objects per message, nearly all freed by reference counting;
# at the default, collections (most of them full ones, scanning every object alive) took about
# 10 % of the bridge's CPU, and about 3 % with these thresholds and the start-up objects frozen.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Move everything allocated so far (modules, settings, clients) out of the collector's
    sight, and collect less often: see :data:`GC_THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        stream=sys.stderr,
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def run_stage(name: str, main: StageMain, settings: Settings) -> int:
    """Run ``main(settings, stop)`` until it returns or SIGTERM/SIGINT sets ``stop``.

    ``name`` is the stage's name (as in its metric names): the metrics endpoint serves that
    stage's metrics only (see :func:`kernel.metrics.served_registry`).

    Returns the process exit status: 0 on a clean stop, 1 for an infrastructure failure, 2 for
    bad configuration. Unexpected exceptions propagate (the stage crashes loudly).
    """
    configure_logging()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr="0.0.0.0", registry=served_registry(name))
    log.info("%s starting with %s", name, settings)
    tune_gc()

    async def _amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(settings, stop)

    try:
        asyncio.run(_amain())
    except InfrastructureError as exc:
        print(f"journeygate {name}: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"journeygate {name}: {exc}", file=sys.stderr)
        return 2
    log.info("%s stopped", name)
    return 0

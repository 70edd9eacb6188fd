"""Running the measured processes: stage processes, the feeder, ceiling workers, and the watch
loop that probes a process's progress and CPU time while it works."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeygate.bench.feeder import FeedPlan, FeedResult, plan_to_json
from journeygate.bench.kafkaio import Progress
from journeygate.bench.lab import Scenario
from journeygate.bench.procstat import Watched
from journeygate.bench.stats import Probe, Run
from journeygate.embedded.pipeline import STAGE_COMMANDS, scrape_metrics
from journeygate.embedded.procs import Child, free_port

PROBE_INTERVAL_S = 0.05
STALL_S = 1.5
STALL_SHARE = 0.9


class BenchFailed(RuntimeError):
    """A measurement could not be completed (a process died, or work stalled)."""


@dataclass(frozen=True, slots=True)
class Stage:
    """A running stage process and the port its metrics are served on."""

    name: str
    child: Child
    metrics_port: int

    @property
    def pid(self) -> int:
        return self.child.pid


def start_stage(
    scenario: Scenario,
    stage: str,
    *,
    label: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Stage:
    """Start ``journeygate <stage command>`` for the scenario, as production runs it."""
    port = free_port()
    name = label or stage
    full_env = {
        **os.environ,
        **scenario.env(),
        "JOURNEYGATE_METRICS_PORT": str(port),
        **(env or {}),
    }
    argv = [sys.executable, "-m", "journeygate", *STAGE_COMMANDS[stage]]
    child = Child(name, argv, log_path=scenario.log_dir / f"{name}.log", env=full_env)
    return Stage(name, child, port)


def feed(plan: FeedPlan, log_dir: Path) -> FeedResult:
    """Run the feeder to completion (blocking)."""
    out = _run(
        [sys.executable, "-m", "journeygate.bench.feeder", plan_to_json(plan)],
        log_dir / "feeder.log",
    )
    return FeedResult(**json.loads(out))


async def feed_async(plan: FeedPlan, log_dir: Path) -> FeedResult:
    """Run the feeder to completion without blocking the event loop."""
    return await asyncio.to_thread(feed, plan, log_dir)


def ceiling(
    name: str, args: Mapping[str, Any], log_dir: Path, env: Mapping[str, str] | None = None
) -> Run:
    """Run one ceiling worker (:mod:`journeygate.bench.ceilings`) and return its measured run."""
    argv = [sys.executable, "-m", "journeygate.bench.ceilings", name, json.dumps(dict(args))]
    out = _run(argv, log_dir / f"ceiling-{name}.log", env)
    return Run(**json.loads(out))


def _run(argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> str:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        result = subprocess.run(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, **(env or {})},
            check=False,
        )
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-1500:]
        raise BenchFailed(f"{argv[2]} exited with status {result.returncode}:\n{tail}")
    return result.stdout.decode().strip().splitlines()[-1]


async def watch(
    progress: Progress,
    stages: Sequence[Stage],
    goal: int,
    *,
    timeout_s: float,
    every_s: float = PROBE_INTERVAL_S,
) -> dict[str, list[Probe]]:
    """Probe progress and each stage's CPU time until ``goal`` is reached (or nearly, and stalled).

    Returns the probes per stage name (same times and progress, that stage's CPU).
    """
    watched = {s.name: Watched([s.pid]) for s in stages}
    probes: dict[str, list[Probe]] = {name: [] for name in watched}
    deadline = time.monotonic() + timeout_s
    last_done, last_change = -1, time.monotonic()
    await progress.start()
    try:
        while True:
            done = await progress.total()
            now = time.monotonic()
            for name, w in watched.items():
                probes[name].append(Probe(now, done, w.cpu_s()))
            if done != last_done:
                last_done, last_change = done, now
            if done >= goal or (done >= goal * STALL_SHARE and now - last_change >= STALL_S):
                return probes
            for s in stages:
                if not s.child.alive():
                    raise BenchFailed(f"{s.name} exited:\n{s.child.log_tail()}")
            if now > deadline:
                raise BenchFailed(f"only {done} of {goal} done after {timeout_s:.0f} s")
            await asyncio.sleep(every_s)
    finally:
        await progress.stop()


def scrape(stage: Stage) -> dict[str, float]:
    """The stage's Prometheus samples, name and labels → value (one HTTP request; never during
    a measurement: the stage pays for it)."""
    return scrape_metrics(stage.metrics_port)


def stop_all(stages: Sequence[Stage]) -> None:
    for s in reversed(stages):
        s.child.stop()

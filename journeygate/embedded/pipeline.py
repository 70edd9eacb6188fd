"""The pipeline's stages as separate processes, each a ``journeygate`` command.

Used by ``journeygate demo`` and the end-to-end tests: every stage is its own OS process talking
real protocols, so a test can SIGKILL one mid-stream and start it again.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from journeygate.embedded.procs import Child, free_port

STAGE_COMMANDS: dict[str, tuple[str, ...]] = {
    "bridge": ("bridge",),
    "normalize": ("process", "normalize"),
    "store": ("process", "store"),
    "signals": ("process", "signals"),
    "journey": ("process", "journey"),
}


def scrape_metrics(port: int) -> dict[str, float]:
    """A local process's Prometheus samples (name plus labels → value), or {} if unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


class PipelineProcesses:
    """Start, stop, kill and restart stage processes that share one environment."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.children: dict[str, Child] = {}
        self.metrics_ports: dict[str, int] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, stage: str) -> Child:
        if stage in self.children and self.children[stage].alive():
            raise RuntimeError(f"{stage} is already running")
        port = self.metrics_ports.setdefault(stage, free_port())
        env = {**self.env, "JOURNEYGATE_METRICS_PORT": str(port)}
        argv = [sys.executable, "-m", "journeygate", *STAGE_COMMANDS[stage]]
        child = Child(stage, argv, log_path=self.log_dir / f"{stage}.log", env=env)
        self.children[stage] = child
        return child

    def start_all(self) -> None:
        for stage in STAGE_COMMANDS:
            self.start(stage)

    def kill(self, stage: str) -> None:
        """SIGKILL a stage: no shutdown code runs, as in a crash."""
        self.children[stage].kill()

    def restart(self, stage: str) -> Child:
        child = self.children.get(stage)
        if child is not None:
            child.stop()
        return self.start(stage)

    def check_alive(self) -> None:
        """Raise if a stage died on its own, with the end of its log."""
        for name, child in self.children.items():
            if not child.alive():
                raise RuntimeError(
                    f"stage {name} exited with status {child.proc.returncode}:\n{child.log_tail()}"
                )

    def scrape(self, stage: str) -> dict[str, float]:
        """The stage's Prometheus samples (name plus labels → value), or {} if unreachable."""
        port = self.metrics_ports.get(stage)
        return {} if port is None else scrape_metrics(port)

    def stop_all(self, timeout_s: float = 10.0) -> None:
        """Ask every stage to stop at once, then wait for them together: a slow one costs its
        own shutdown, not the sum of all (each is SIGKILLed at ``timeout_s``)."""
        children = list(reversed(list(self.children.values())))
        for child in children:
            child.ask_to_stop()
        deadline = time.monotonic() + timeout_s
        for child in children:
            child.stop(max(deadline - time.monotonic(), 0.1), asked=True)

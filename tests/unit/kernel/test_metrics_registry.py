"""Each stage's metrics live in its own registry, and a stage process serves only its own."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

import ingest.metrics
import processors.normalize.metrics
import processors.store.metrics
import simulator.publishing.metrics
from kernel.metrics import registry, served_registry

MODULES = (
    ingest.metrics,
    processors.normalize.metrics,
    processors.store.metrics,
    simulator.publishing.metrics,
)
STAGES = [m.STAGE for m in MODULES]


def _families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_stage_names_are_the_ones_processes_run_under() -> None:
    assert STAGES == ["bridge", "normalize", "store", "simulator"]
    assert registry("bridge") is registry("bridge") is not registry("store")


def test_each_stage_registry_holds_only_its_own_metrics() -> None:
    for stage in STAGES:
        names = _families(generate_latest(registry(stage)).decode())
        assert names, stage
        assert all(n.startswith(f"journeygate_{stage}_") for n in names), stage


def test_the_global_registry_holds_no_stage_metric() -> None:
    assert not [n for n in _families(generate_latest(REGISTRY).decode()) if "journeygate_" in n]


def test_a_process_serves_its_stage_and_process_metrics_only() -> None:
    for stage in STAGES:
        names = _families(generate_latest(served_registry(stage)).decode())
        ours = {n for n in names if n.startswith("journeygate_")}
        assert ours == _families(generate_latest(registry(stage)).decode())
        assert "process_cpu_seconds" in names or "python_info" in names

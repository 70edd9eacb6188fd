"""Fault tests: stages are SIGKILLed mid-stream and restarted; nothing is lost or doubled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_kit import wait_for_verdict

from database.inspect import store_counts
from journeygate.demo import wait_for_bridge
from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings
from simulator.runner import SimulationParams, SimulationResult, run_simulation

pytestmark = pytest.mark.e2e


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


class BackgroundSimulation:
    """A paced simulation on a thread, with its progress readable from the test."""

    def __init__(self, settings: Settings, params: SimulationParams) -> None:
        self.published = 0
        self.planned = 0
        self.result: SimulationResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(settings, params), daemon=True)
        self._thread.start()

    def _run(self, settings: Settings, params: SimulationParams) -> None:
        def progress(published: int, planned: int) -> None:
            self.published, self.planned = published, planned

        try:
            self.result = run_simulation(settings, params, progress=progress)
        except BaseException as exc:  # noqa: BLE001 - re-raised by join() in the test thread
            self.error = exc

    def wait_for_fraction(self, fraction: float, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.planned and self.published >= fraction * self.planned:
                return
            if not self._thread.is_alive():
                raise AssertionError(f"simulation ended early: {self.error!r}")
            time.sleep(0.02)
        raise AssertionError(f"simulation did not reach {fraction:.0%} in {timeout_s}s")

    def join(self, timeout_s: float = 120.0) -> SimulationResult:
        self._thread.join(timeout_s)
        assert self.error is None, self.error
        assert self.result is not None
        return self.result


def test_sigkill_bridge_normalizer_and_store_mid_stream(
    settings: Settings, pipeline: PipelineProcesses, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    params = SimulationParams(
        vehicles=40,
        days=10,
        seed=11,
        duplicate_rate=0.02,
        malformed_rate=0.01,
        truth_path=truth,
        rate_per_s=800.0,
        acks="ignore",  # the pipeline's own guarantees, not the devices' resends
    )
    sim = BackgroundSimulation(settings, params)

    # Bridge: killed while messages keep arriving; its persistent session queues them meanwhile.
    sim.wait_for_fraction(0.2)
    pipeline.kill("bridge")
    time.sleep(1.0)
    pipeline.start("bridge")
    wait_for_bridge(pipeline)

    # Store writer: killed while it writes; on restart it resumes from the offsets in PostgreSQL.
    sim.wait_for_fraction(0.45)
    wait_until(lambda: store_counts(settings.database_url).samples > 0, "the store writes rows")
    pipeline.kill("store")
    time.sleep(0.5)
    pipeline.start("store")

    # Normalizer: killed mid-stream; it re-reads from its last committed Kafka offsets.
    sim.wait_for_fraction(0.7)
    pipeline.kill("normalize")
    time.sleep(0.5)
    pipeline.start("normalize")

    result = sim.join()
    assert not result.interrupted
    verdict = wait_for_verdict(settings, truth, pipeline, timeout_s=180.0)

    assert verdict.passed, verdict.as_dict()
    assert verdict.stored_once == result.valid_samples
    assert verdict.missing_samples == 0 and verdict.doubled_samples == 0
    assert verdict.malformed_dead_lettered == verdict.malformed_expected


def test_sigkill_bridge_repeatedly_loses_nothing(
    settings: Settings, pipeline: PipelineProcesses, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    params = SimulationParams(
        vehicles=30,
        days=7,
        seed=5,
        duplicate_rate=0.0,
        malformed_rate=0.0,
        truth_path=truth,
        rate_per_s=1000.0,
        acks="ignore",  # the pipeline's own guarantees, not the devices' resends
    )
    sim = BackgroundSimulation(settings, params)
    for fraction in (0.15, 0.35, 0.55, 0.75):
        sim.wait_for_fraction(fraction)
        pipeline.kill("bridge")
        pipeline.start("bridge")
        wait_for_bridge(pipeline)
    result = sim.join()
    verdict = wait_for_verdict(settings, truth, pipeline, timeout_s=120.0)
    assert verdict.passed, verdict.as_dict()
    assert verdict.stored_once == result.valid_samples

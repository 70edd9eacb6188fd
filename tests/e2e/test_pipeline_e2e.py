"""The whole pipeline, each stage its own process: simulator → MQTT → bridge → Kafka → normalizer
→ store, with repeats and every kind of malformed message mixed in."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_kit import wait_for_verdict

from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings
from simulator.runner import SimulationParams, run_simulation
from simulator.scenario.files import Scenario
from simulator.scenario.kinds import FAULT_KINDS

pytestmark = pytest.mark.e2e


def test_every_valid_sample_stored_once_and_every_malformed_message_dead_lettered(
    settings: Settings, pipeline: PipelineProcesses, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    every_kind = Scenario.model_validate({"faults": {"malformed": {"min_each": 1}}})
    params = SimulationParams(
        scenario=every_kind,
        vehicles=25,
        days=7,
        seed=7,
        duplicate_rate=0.05,
        malformed_rate=0.03,
        truth_path=truth,
    )
    result = run_simulation(settings, params)
    assert not result.interrupted
    assert result.duplicates > 0
    assert set(result.malformed) >= {"invalid_json", "non_finite_number", "unknown_vin", "oversize"}

    verdict = wait_for_verdict(settings, truth, pipeline)

    assert verdict.passed, verdict.as_dict()
    assert verdict.expected_samples == result.valid_samples
    assert verdict.stored_once == result.valid_samples
    assert verdict.malformed_expected == sum(result.malformed.values()) >= len(FAULT_KINDS)
    assert verdict.malformed_dead_lettered == verdict.malformed_expected
    # Clean run: no stage restarted, so nothing was dead-lettered twice.
    assert verdict.dead_letter_repeats == 0

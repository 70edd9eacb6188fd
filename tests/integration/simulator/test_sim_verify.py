"""``journeygate verify`` against real servers, without a pipeline: nothing arrived, so it fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from journeygate.embedded.procs import free_port
from kernel.settings import Settings
from simulator.cli import register
from simulator.runner import run_simulation
from simulator.scenario.files import Scenario
from simulator.scenario.params import SimulationParams

pytestmark = pytest.mark.integration


def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def verify_args(settings: Settings, truth: Path, *extra: str) -> list[str]:
    return [
        "verify",
        "--truth",
        str(truth),
        "--database-url",
        settings.database_url,
        "--kafka-bootstrap",
        settings.kafka_bootstrap,
        "--topic-prefix",
        settings.topic_prefix,
        *extra,
    ]


def test_verify_reports_everything_missing_when_no_pipeline_ran(
    settings: Settings, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    scenario = Scenario.model_validate({"faults": {"malformed": {"min_each": 1}}})
    result = run_simulation(
        settings,
        SimulationParams(
            acks="ignore", scenario=scenario, vehicles=3, days=1, seed=4, truth_path=truth
        ),
    )
    out = CliRunner().invoke(app(), verify_args(settings, truth, "--json", "--wait-s", "1"))
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    assert doc["passed"] is False and doc["waited_s"] >= 1.0
    assert doc["valid"]["samples"] == result.valid_samples == doc["valid"]["missing"]
    assert doc["valid"]["stored_once"] == 0
    assert doc["malformed"]["missing"] == doc["malformed"]["expected"] > 0
    assert {c["fault"] for c in doc["malformed_by_fault"]} >= {"oversize", "bad_vin"}
    tables = CliRunner().invoke(app(), verify_args(settings, truth))
    assert tables.exit_code == 1
    assert "FAIL" in tables.stdout and "MISMATCH" in tables.stdout


def test_verify_errors_are_one_line_with_distinct_exit_codes(
    settings: Settings, tmp_path: Path
) -> None:
    not_truth = tmp_path / "x.jsonl"
    not_truth.write_text('{"hello": 1}\n')
    bad = CliRunner().invoke(app(), verify_args(settings, not_truth))
    assert bad.exit_code == 2
    assert bad.output.strip().count("\n") == 0 and "no journeygate-simulator-truth" in bad.output
    truth = tmp_path / "truth.jsonl"
    run_simulation(
        settings, SimulationParams(acks="ignore", vehicles=2, days=1, seed=2, truth_path=truth)
    )
    down = settings.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/x"}
    )
    gone = CliRunner().invoke(app(), verify_args(down, truth))
    assert gone.exit_code == 3
    assert "cannot reach PostgreSQL" in gone.output

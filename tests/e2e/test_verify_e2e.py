"""QA's loop as a user runs it: ``journeygate simulate --scenario smoke`` through the pipeline,
then ``journeygate verify`` passes; a broken pipeline or store makes it fail with exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pipeline_kit import stage_env, start_pipeline

from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings
from simulator.scenario.kinds import FAULT_KINDS
from simulator.truth.verdict import read_truth
from simulator.truth.verify import collect_verdict

pytestmark = pytest.mark.e2e

TWENTY_YEARS_S = 20 * 365 * 86_400
FUTURE = ("future_timestamp", "clock_far_ahead")


def journeygate(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeygate", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, **stage_env(settings)},
    )


def simulate_smoke(settings: Settings, truth: Path) -> None:
    done = journeygate(settings, "simulate", "--scenario", "smoke", "--truth", str(truth))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def verify_json(settings: Settings, truth: Path, wait_s: float) -> tuple[int, dict[str, Any]]:
    done = journeygate(settings, "verify", "--truth", str(truth), "--json", "--wait-s", str(wait_s))
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def by_fault(doc: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    return {c["fault"]: c for c in doc[section]}


def test_smoke_scenario_passes_verify_and_lost_rows_make_it_fail(
    settings: Settings, pipeline: PipelineProcesses, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    simulate_smoke(settings, truth)

    status, doc = verify_json(settings, truth, wait_s=120)
    assert status == 0, doc
    assert doc["passed"] is True
    assert doc["valid"]["stored_once"] == doc["valid"]["samples"] > 0
    assert doc["malformed"]["dead_lettered"] == doc["malformed"]["expected"]
    assert set(by_fault(doc, "malformed_by_fault")) >= set(FAULT_KINDS)

    lines = read_truth(truth)
    lost = [m for m in lines if m["type"] == "message" and m["kind"] == "valid"][:3]
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for m in lost:
            conn.execute(
                "DELETE FROM telemetry WHERE vin = %s AND boot_id = %s AND seq = %s",
                (m["vin"], m["boot_id"], m["seq"]),
            )
    status, doc = verify_json(settings, truth, wait_s=0)
    assert status == 1
    assert doc["passed"] is False
    assert doc["valid"]["missing"] == sum(m["samples"] for m in lost)
    assert doc["unexpected"] == {"samples": 0, "dead_letters": 0}


def test_a_pipeline_that_accepts_future_timestamps_fails_verify(
    settings: Settings, tmp_path: Path
) -> None:
    lenient = start_pipeline(
        settings,
        tmp_path / "logs",
        extra_env={"JOURNEYGATE_FUTURE_TOLERANCE_S": str(TWENTY_YEARS_S)},
    )
    try:
        truth = tmp_path / "truth.jsonl"
        simulate_smoke(settings, truth)
        accepted = sum(
            m["samples"]
            for m in read_truth(truth)
            if m["type"] == "message" and m.get("fault") in FUTURE
        )
        settle(settings, truth, lenient, accepted)
        status, doc = verify_json(settings, truth, wait_s=0)
    finally:
        lenient.stop_all()
    assert status == 1 and doc["passed"] is False
    faults = by_fault(doc, "malformed_by_fault")
    future = [c for k, c in faults.items() if k in FUTURE]
    assert future and all(c["missing"] == c["expected"] > 0 for c in future)
    assert all(c["dead_lettered"] == c["expected"] for k, c in faults.items() if k not in FUTURE)
    assert doc["unexpected"]["samples"] == accepted > 0
    assert doc["valid"]["missing"] == 0


def settle(settings: Settings, truth: Path, pipeline: PipelineProcesses, accepted: int) -> None:
    """Poll until every valid sample and every other rejection is in, and the wrongly accepted
    samples are stored: what is left wrong is then the pipeline's doing, not its lag."""
    deadline = time.monotonic() + 120
    while True:
        v = collect_verdict(settings, truth)
        rejected = all(
            c.dead_lettered == c.expected for c in v.malformed_by_fault if c.fault not in FUTURE
        )
        if v.missing_samples == 0 and rejected and v.unexpected_samples >= accepted:
            return
        assert time.monotonic() < deadline, v.as_dict()
        pipeline.check_alive()
        time.sleep(0.5)

"""Dealer alerts measured against the truth, through the real pipeline on a seeded fleet.

500 vehicles publish 60 days of telemetry (with every fault of the built-in scenario) through
MQTT, the bridge, the normalizer, the store writer, the signals processor and the journey
processor; the simulator keeps a 60-day hidden future (the gates' windows look at most 60 days
ahead). ``journeygate score-alerts`` then compares the alerts with the truth, and this test
asserts what they achieve (docs/journey.md, "Measured against the truth").
"""

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
from pipeline_kit import stage_env

from journeygate.demo_alerts import journey_caught_up
from journeygate.demo_predictions import signals_caught_up as frames_caught_up
from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

NOW = "2026-06-15T12:00:00Z"
FLEET = ("--vehicles", "500", "--days", "60", "--horizon-days", "60", "--seed", "2027")


def journeygate(settings: Settings, *args: str, timeout_s: float = 600) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "journeygate", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, **stage_env(settings)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def signals_caught_up(settings: Settings, visits: int) -> bool:
    """The signals processor is as far into telemetry.frames as the store writer, and every
    published service visit is stored."""
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM service_visits").fetchone()
    return frames_caught_up(settings) and row is not None and int(row[0]) >= visits


def test_alerts_match_the_truth_within_budget_and_consent(
    settings: Settings, pipeline: PipelineProcesses, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    journeygate(settings, "simulate", *FLEET, "--now", NOW, "--truth", str(truth))
    visits = sum(b'"type":"service_published"' in line for line in truth.read_bytes().splitlines())
    deadline = time.monotonic() + 600
    while not signals_caught_up(settings, visits):
        pipeline.check_alive()
        assert time.monotonic() < deadline, "the signals processor did not catch up"
        time.sleep(1)
    while not journey_caught_up(settings):
        pipeline.check_alive()
        assert time.monotonic() < deadline, "the journey processor did not catch up"
        time.sleep(1)
    doc: dict[str, Any] = json.loads(
        journeygate(settings, "score-alerts", "--truth", str(truth), "--json")
    )
    print(json.dumps(doc, indent=2))  # the figures, kept in the test log
    funnel = json.loads(journeygate(settings, "funnel", "--json"))
    print(json.dumps([g for g in funnel["gates"] if g["dealer_id"] == "*"], indent=2))

    # Met (docs/journey.md, "Measured against the truth", gives the last run's figures):
    for kind in ("warranty_ending", "service_due"):
        s = doc["scored"][kind]
        assert s["alerts"] >= 10 and s["entered"] >= 10, (kind, s)
        assert s["precision"] >= 0.9, (kind, s)
    equity = doc["scored"]["equity_positive"]
    assert equity["entered"] >= 50 and equity["recall"] >= 0.9, equity
    assert doc["consent_violations"]["count"] == 0, doc["consent_violations"]
    assert doc["contacts"]["max_in_any_window"] <= doc["contacts"]["budget"], doc["contacts"]
    assert doc["contacts"]["owners_over_budget"] == 0, doc["contacts"]
    assert any(g["entered"] > 0 and g["alerted"] > 0 for g in funnel["gates"])
    # Not met yet: warranty-ending and service-due recall (about 0.79), equity-positive
    # precision (about 0.68) and repeated chases (about 200): alerts are raised at the instants
    # of the service history, before any telemetry (docs/journey.md, "Measured against the
    # truth").

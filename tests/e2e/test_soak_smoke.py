"""``journeygate soak`` in a quarter of a minute: it starts everything, applies faults, lifts them,
judges the pipeline and reports recovery and memory. The real soak's figures are in
docs/operations.md ("Soak"); this only shows that a short one runs and judges."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

STAGES = {"bridge", "normalize", "store", "signals", "journey"}


def test_a_quarter_minute_soak_applies_faults_and_judges_the_pipeline() -> None:
    # Servers outside pytest's base directory (see test_bench_smoke.py).
    root = Path(tempfile.mkdtemp(prefix="jg-soak-smoke-"))
    result = subprocess.run(
        [
            sys.executable, "-m", "journeygate", "soak", "--minutes", "0.25", "--seed", "4",
            "--rate", "100", "--vehicles", "50", "--fault-interval-s", "3", "--rss-every-s", "1",
            "--json", "--dir", str(root / "soak"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        # A killed consumer's partitions move after its session times out: keep that short.
        env={
            **os.environ,
            "JOURNEYGATE_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "JOURNEYGATE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        },
    )  # fmt: skip
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-3000:] + f"\n(servers and logs kept in {root})"
    )
    shutil.rmtree(root, ignore_errors=True)
    doc = json.loads(result.stdout)
    assert doc["passed"] is True
    assert doc["lost"] == doc["doubled"] == 0
    assert doc["stored_once"] == doc["sent"]["valid_samples"] > 500
    assert doc["dead_letters"]["dead_lettered"] == doc["dead_letters"]["expected"]
    assert doc["faults"], "no fault was applied"
    assert all(f["recovered_s"] is not None for f in doc["faults"])
    memory = {row["process"]: row for row in doc["memory"]}
    assert STAGES | {"postgres", "mosquitto", "tansu"} <= set(memory)
    assert all(memory[s]["samples"] >= 5 and memory[s]["peak_bytes"] > 0 for s in STAGES)
    assert set(doc["memory_samples"]) == set(memory)

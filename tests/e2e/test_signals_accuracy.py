"""The predictions' accuracy, proven through the real pipeline on a seeded fleet.

500 vehicles publish 60 days of telemetry (with every device and network fault of the built-in
scenario) through MQTT, the bridge, the normalizer, the store writer and the signals processor;
the simulator keeps a 180-day hidden future. ``journeygate score`` then compares what the store
predicts at the end of the period with that future, beside the naive and oracle forecasters, and
this test asserts what the predictions achieve on it (docs/signals.md, "Accuracy").
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

from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings

pytestmark = pytest.mark.e2e

NOW = "2026-06-15T12:00:00Z"
FLEET = ("--vehicles", "500", "--days", "60", "--horizon-days", "180", "--seed", "2027")


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
    """The signals processor has committed as far into telemetry.frames as the store writer,
    and has stored every published service visit."""
    with psycopg.connect(settings.database_url) as conn:
        stored_visits = conn.execute("SELECT count(*) FROM service_visits").fetchone()
        rows = conn.execute(
            "SELECT consumer_group, kafka_partition, next_offset FROM consumer_offsets"
            " WHERE topic = %s",
            (f"{settings.topic_prefix}telemetry.frames",),
        ).fetchall()
    store = {p: o for g, p, o in rows if g == settings.topic("journeygate-store")}
    signals = {p: o for g, p, o in rows if g == settings.topic("journeygate-signals")}
    caught_up = bool(store) and all(signals.get(p, -1) >= o for p, o in store.items())
    return caught_up and stored_visits is not None and stored_visits[0] >= visits


def test_predictions_beat_the_naive_forecaster_with_calibrated_intervals(
    settings: Settings, pipeline: PipelineProcesses, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    journeygate(settings, "simulate", *FLEET, "--now", NOW, "--truth", str(truth))
    verdict = json.loads(
        journeygate(settings, "verify", "--truth", str(truth), "--json", "--wait-s", "240")
    )
    assert verdict["passed"], verdict
    visits = sum(b'"type":"service_published"' in line for line in truth.read_bytes().splitlines())
    deadline = time.monotonic() + 300
    while not signals_caught_up(settings, visits):
        pipeline.check_alive()
        assert time.monotonic() < deadline, "the signals processor did not catch up"
        time.sleep(1)
    doc: dict[str, Any] = json.loads(
        journeygate(settings, "score", "--truth", str(truth), "--json")
    )
    print(json.dumps(doc, indent=2))  # the figures, kept in the test log

    # What this fleet measures with enough vehicles to mean something. The targets for
    # warranty expiry 31-90 days ahead against the oracle (11 vehicles here), the bill (15 %)
    # and the equity sign (95 %) are not met: docs/signals.md, "Accuracy", gives the figures.
    assert doc["predicted"] >= 0.95 * doc["vehicles"]
    far = doc["warranty_expiry"]["91-180"]
    assert far["journeygate"]["n"] >= 20, far
    assert far["journeygate"]["median_abs_days"] <= 0.75 * far["naive"]["median_abs_days"], far
    # 31-90 days ahead on every vehicle (the distance each truly drives in 40-85 days)
    distance = doc["distance_31_90"]
    assert distance["journeygate"]["n"] >= 1000, distance
    assert (
        distance["journeygate"]["median_abs_days"] <= 0.75 * distance["naive"]["median_abs_days"]
    ), distance
    due = doc["service_due"]
    assert due["journeygate"]["n"] >= 100, due
    assert due["journeygate"]["median_abs_days"] <= due["naive"]["median_abs_days"], due
    assert due["journeygate"]["p90_abs_days"] <= due["naive"]["p90_abs_days"], due
    for name in ("warranty", "service"):
        share = doc["interval_coverage"][name]
        assert share["n"] >= 20, doc["interval_coverage"]
        assert 0.70 <= share["share"] <= 0.90, doc["interval_coverage"]
    bill = doc["bill_mape_pct"]
    assert bill["journeygate"]["n"] >= 100, bill
    assert bill["journeygate"]["value"] <= 0.5 * bill["naive"]["value"], bill
    equity = doc["equity_sign"]
    assert equity["journeygate"]["n"] >= 100, equity
    assert equity["journeygate"]["share"] >= equity["oracle"]["share"] - 0.05, equity

"""``journeygate bench --quick`` completes and reports well-formed tables and JSON.

A benchmark is not a test: nothing here judges a figure, only that every measurement ran and
was reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

DEADLINE_S = 480
"""A guard against a hung run, not a figure: the quick run takes about three minutes on two idle
cores (165 s measured), longer beside the rest of the suite or on a slower machine."""
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(DEADLINE_S + 60)]
TITLES = (
    "Bridge: MQTT in",
    "Normalizer: telemetry.raw",
    "Store writer: telemetry.frames",
    "Signals processor: telemetry.frames",
    "Journey processor: vehicle.signals",
    "Whole pipeline",
    "Scale:",
    "Dealer API and webhooks",
    "Targets",
)


def test_quick_bench_prints_every_table_and_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # Its servers' files outside pytest's base directory: another pytest session on the machine
    # resets that directory's permissions, and PostgreSQL (its own user) loses its data.
    servers = Path(tempfile.mkdtemp(prefix="jg-bench-smoke-"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "journeygate",
            "bench",
            "--quick",
            "--json",
            str(out),
            "--dir",
            str(servers),
        ],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-3000:] + f"\n(servers and logs kept in {servers})"
    )
    shutil.rmtree(servers, ignore_errors=True)
    for title in TITLES:
        assert title in result.stdout, (title, result.stdout[-3000:])

    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert {s["name"] for s in data["stages"]} == {
        "bridge",
        "normalizer",
        "store writer",
        "signals processor",
        "journey processor",
    }
    signals = next(s for s in data["stages"] if s["name"] == "signals processor")
    # the decoder the processor uses, beside the ones it replaced
    assert [c["name"] for c in signals["context"]][1:] == [
        "frame readings decoder",
        "frame decoder",
        "frame decode by fastavro",
    ]
    for stage in data["stages"]:
        for figure in (stage["alone"], stage["ceiling"]):
            assert figure["runs"], figure
            assert figure["rate_per_s"] > 0 and figure["per_cpu_s"] > 0 and figure["cpu_us"] > 0
        assert stage["ratio"] > 0
    alert = data["pipeline"]["alert_latency"]
    assert alert["alerts"] > 0, alert
    alert_max = data["pipeline"]["alert_max_rate"]
    assert alert_max["rate_per_s"] > 0 and alert_max["runs"], alert_max
    assert alert["offered_per_s"] == pytest.approx(alert_max["rate_per_s"] / 2)
    assert "maximum rate with the signals and journey processors" in result.stdout
    assert 0 <= alert["p50_ms"] <= alert["p95_ms"] <= alert["p99_ms"] <= alert["max_ms"]
    assert "telemetry → dealer alert" in result.stdout
    latency = data["pipeline"]["latency"]
    assert latency["samples"] > 0
    assert 0 <= latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    scale = data["scale"]
    assert scale["published"] == 2 * scale["fleet"]
    assert {p["name"] for p in scale["processes"]} >= {
        "normalize-1",
        "store",
        "signals",
        "bridge-1",
    }
    signals = scale["signals"]
    assert signals["committed"] > 0 and signals["vehicles_with_state"] > 0, signals
    assert signals["state_bytes_per_vehicle"] > 0 and signals["evaluations"] > 0, signals
    assert "signals: lost / doubled" in result.stdout
    api = data["api"]
    for http in (api["listing"], api["listing_ceiling"]):
        assert http["figure"]["rate_per_s"] > 0 and http["figure"]["runs"], http
        assert 0 < http["p50_ms"] <= http["p99_ms"], http
    for figure in (api["webhooks"], api["webhooks_ceiling"]):
        assert figure["runs"][0]["count"] == api["deliveries"] and figure["rate_per_s"] > 0
    assert api["listing_ratio"] > 0 and api["webhooks_ratio"] > 0
    assert all(isinstance(t["met"], bool) for t in data["targets"])
    assert len(data["targets"]) == 5 + 1 + 5 + 3
    assert any(t["name"].startswith("signals processor vs") for t in data["targets"])

"""``journeygate demo`` as a user runs it: a verdict at the end, and nothing left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from journeygate.embedded.mqtt import find_mosquitto

pytestmark = pytest.mark.e2e

MARK_VAR = "JOURNEYGATE_TEST_DEMO_MARK"


def processes_marked(mark: str) -> list[str]:
    """Live processes that inherited the environment marker given to one demo run."""
    left = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get(MARK_VAR) == mark:
                left.append(f"{proc.info['pid']}: {' '.join(proc.info['cmdline'] or [])}")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return left


def marked_env(mark: str) -> dict[str, str]:
    return {**os.environ, MARK_VAR: mark}


def demo_argv(data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "journeygate",
        "demo",
        "--vehicles",
        "15",
        "--days",
        "3",
        "--dir",
        str(data_dir),
        *extra,
    ]


def test_demo_runs_a_fleet_through_and_stops_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    mark = uuid.uuid4().hex
    result = subprocess.run(
        demo_argv(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=marked_env(mark),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "verdict: every valid sample stored exactly once" in result.stdout
    assert "all processes stopped" in result.stdout
    # It ends with the alerts the fleet raised, by type, and the funnel (the journey caught up).
    assert "Dealer alerts the fleet raised, by type" in result.stdout
    assert "Funnel by gate" in result.stdout
    # A few vehicles' predictions, each VIN whole (the output is 120 columns wide here).
    predictions = result.stdout.split("Predictions (a few vehicles", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"│ [A-HJ-NPR-Z0-9]{17} │", predictions), predictions
    # and the fleet's usage shift each partition's forecasts took off (0 % in this world)
    shift = r"fleet usage against its habits, taken off the forecasts, by partition: 0: [+-]\d+% \("
    assert re.search(shift, result.stdout), result.stdout[-3000:]
    assert (data_dir / "truth.jsonl").exists()
    assert processes_marked(mark) == []


def kept_running(data_dir: Path, mark: str, *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    """A demo with ``--keep-running`` (and ``extra``) once it waits for Ctrl-C, and what it
    printed: every server and stage running, each marked with ``mark``."""
    proc = subprocess.Popen(
        demo_argv(data_dir, "--keep-running", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=marked_env(mark),
    )
    assert proc.stdout is not None
    output = []
    for line in proc.stdout:
        output.append(line)
        if "press Ctrl-C" in line:
            break
    running = processes_marked(mark)
    broker = "mosquitto" if find_mosquitto() else "amqtt"
    for name in ("postgres", "tansu", broker, "bridge", "normalize", "store"):
        assert any(name in line for line in running), (name, running, "".join(output))
    return proc, output


def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    """(On a shipped scenario with every fault kind, its fleet and period as given.)"""
    data_dir = tmp_path / "demo"
    mark = uuid.uuid4().hex
    proc, output = kept_running(data_dir, mark, "--scenario", "smoke")
    printed = "".join(output)
    assert any("psql postgresql://" in line for line in output), printed
    assert re.search(r"│ scenario +│ +smoke │", printed), printed
    assert re.search(r"│ vehicles registered +│ +15 │", printed), printed
    assert "verdict: every valid sample stored exactly once" in printed
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        logs = "".join(
            f"\n== {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-8:])
            for log in sorted((data_dir / "logs").glob("*.log"))
        )
        pytest.fail(f"the demo did not stop within 120 s of Ctrl-C:\n{''.join(output)}{rest}{logs}")
    assert proc.returncode == 130, "".join(output) + rest
    assert "all processes stopped" in rest
    assert processes_marked(mark) == []


def test_a_sigkilled_demo_leaves_no_server_or_stage_running(tmp_path: Path) -> None:
    """Every child dies with the demo even when the demo cannot stop them (the kernel's
    parent-death signal; procs.Child), the MQTT broker included."""
    mark = uuid.uuid4().hex
    proc, _ = kept_running(tmp_path / "demo", mark)
    proc.kill()
    proc.communicate()
    deadline = time.monotonic() + 30
    while (left := processes_marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == [], left

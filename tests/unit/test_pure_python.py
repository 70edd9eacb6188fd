"""The compiled modules (setup.py) pass their unit tests as plain Python too: what a plain
``pip install .`` runs is the same code, checked the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("package", "probe"),
    [
        ("processors/journey", "processors.journey.machine"),
        ("processors/signals", "processors.signals.vehicle"),
        ("schemas", "schemas.codec"),
    ],
)
def test_a_compiled_core_passes_its_unit_tests_as_plain_python(
    package: str, probe: str, tmp_path: Path
) -> None:
    # (built without JOURNEYGATE_COMPILE=1 this repeats what the suite ran; it costs seconds)
    env = {**os.environ, "JOURNEYGATE_TEST_PURE_PYTHON": "1"}
    where = subprocess.run(
        [sys.executable, "-c", f"import conftest, {probe} as m; print(m.__file__)"],
        cwd=ROOT / "tests",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().endswith(".py"), where.stdout
    # Its own --basetemp: without one, a pytest run takes /tmp/pytest-of-USER back to mode 0700,
    # which would lock the unprivileged user of an embedded PostgreSQL that another test starts
    # as root out of its data directory mid-initdb.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
         "--basetemp", str(tmp_path / "inner"), f"tests/unit/{package}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout

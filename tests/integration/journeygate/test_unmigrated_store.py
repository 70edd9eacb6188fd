"""Commands that read or write the store, on a database not migrated yet: one line saying so
and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

NOWHERE_KAFKA = ("--kafka-bootstrap", "127.0.0.1:1")


@pytest.mark.parametrize(
    "argv",
    [
        ["funnel"],
        ["status", *NOWHERE_KAFKA],
        ["registry", "export"],
        ["dealers", "add", "D1"],
        ["dealers", "webhook", "replay", "D1"],
        ["webhooks", "--once"],
    ],
    ids=lambda argv: " ".join(argv[:3]),
)
def test_a_store_not_migrated_is_one_line(argv: list[str], bare_database: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "journeygate", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "JOURNEYGATE_DATABASE_URL": bare_database},
    )
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert "journeygate migrate" in last, done.stderr
    logged = [line for line in done.stderr.splitlines()[:-1] if " INFO " not in line]
    assert not logged, done.stderr  # nothing but that line (and a stage's start-up log)

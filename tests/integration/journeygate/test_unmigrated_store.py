"""Commands that read or write the store, on a database not migrated yet: one line saying so
and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

NOWHERE_KAFKA = ("--kafka-bootstrap", "127.0.0.1:1")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("unmigrated")
    index = root / "index.csv"
    index.write_text("market,as_of,factor,source\nUS,2026-06-01,1.02,a used-car price index\n")
    truth = root / "truth.jsonl"
    header = {
        "type": "header",
        "format": "journeygate-simulator-truth",
        "version": 5,
        "now": "2026-06-15T12:00:00+00:00",
        "start": "2026-04-16T12:00:00+00:00",
        "horizon_days": 180,
    }
    truth.write_text(json.dumps(header) + "\n")
    return {"index": str(index), "truth": str(truth)}


# Each command, and its exit status on a store not migrated: 1, as for any server not ready;
# 3 for the scorers and the verdict, whose 1 and 2 mean a mismatch and bad input.
COMMANDS = [
    (["funnel"], 1),
    (["status", *NOWHERE_KAFKA], 1),
    (["registry", "export"], 1),
    (["registry", "market-index", "{index}"], 1),
    (["dealers", "add", "D1"], 1),
    (["dealers", "rotate-key", "D1"], 1),
    (["dealers", "webhook", "replay", "D1"], 1),
    (["webhooks", "--once"], 1),
    (["score", "--truth", "{truth}"], 3),
    (["score-alerts", "--truth", "{truth}"], 3),
    (["verify", "--truth", "{truth}", *NOWHERE_KAFKA], 3),
]


@pytest.mark.parametrize(("argv", "status"), COMMANDS, ids=[" ".join(a[:3]) for a, _ in COMMANDS])
def test_a_store_not_migrated_is_one_line(
    argv: list[str], status: int, bare_database: str, files: dict[str, str]
) -> None:
    """The same line for every command: the stages' readiness gives it too (docs/operations.md,
    "Health and lifecycle"), whichever table the command wanted first."""
    done = subprocess.run(
        [sys.executable, "-m", "journeygate", *(a.format(**files) for a in argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "JOURNEYGATE_DATABASE_URL": bare_database},
    )
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    assert done.returncode == status and "Traceback" not in done.stderr, done.stderr
    assert "is not migrated" in last and "run `journeygate migrate`" in last, done.stderr
    logged = [line for line in done.stderr.splitlines()[:-1] if " INFO " not in line]
    assert not logged, done.stderr  # nothing but that line (and a stage's start-up log)

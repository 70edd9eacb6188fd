"""Collecting a verdict: read the truth file, the store and the dead-letter topic, then judge.

:func:`wait_for_verdict` polls until the pipeline matches the truth or time runs out, which is
what a check right after a simulation needs: the pipeline may still be catching up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg

from database.inspect import stored_sample_keys
from kernel.deadletters import read_dead_letters
from kernel.errors import InfrastructureError
from kernel.settings import Settings, mask_url
from simulator.truth.verdict import DeadLetterSeen, Verdict, judge, read_truth

POLL_S = 1.0


def judge_now(settings: Settings, truth: Sequence[Mapping[str, Any]]) -> Verdict:
    """Judge what the store and ``telemetry.dlq`` hold now against the truth lines."""
    try:
        stored = stored_sample_keys(settings.database_url)
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"reading the store at {mask_url(settings.database_url)} failed: {type(exc).__name__}"
        ) from exc
    letters = asyncio.run(read_dead_letters(settings))
    seen = [DeadLetterSeen(d.stage, d.reason, d.original_sha256, d.mqtt_topic) for d in letters]
    return judge(truth, stored, seen)


def collect_verdict(settings: Settings, truth_path: Path) -> Verdict:
    """Judge what the store and ``telemetry.dlq`` hold now against the truth file."""
    return judge_now(settings, read_truth(truth_path))


def wait_for_verdict(
    settings: Settings,
    truth_path: Path,
    wait_s: float,
    *,
    poll_s: float = POLL_S,
    on_verdict: Callable[[Verdict], None] | None = None,
) -> Verdict:
    """Judge until the pipeline matches the truth or ``wait_s`` has passed; the last verdict."""
    truth = read_truth(truth_path)
    deadline = time.monotonic() + wait_s
    while True:
        verdict = judge_now(settings, truth)
        if on_verdict is not None:
            on_verdict(verdict)
        remaining_s = deadline - time.monotonic()
        if verdict.passed or remaining_s <= 0:
            return verdict
        time.sleep(min(poll_s, remaining_s))

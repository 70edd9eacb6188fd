"""Collecting a verdict: read the truth file, the store and the dead-letter topic, then judge."""

from __future__ import annotations

import asyncio
from pathlib import Path

from journey.inspect import stored_sample_keys
from journeygate.dlq import read_dead_letters
from journeygate.settings import Settings
from simulator.verdict import DeadLetterSeen, Verdict, judge, read_truth


def collect_verdict(settings: Settings, truth_path: Path) -> Verdict:
    """Judge what the store and ``telemetry.dlq`` hold now against the truth file."""
    truth = read_truth(truth_path)
    stored = stored_sample_keys(settings.database_url)
    letters = asyncio.run(read_dead_letters(settings))
    seen = [DeadLetterSeen(d.stage, d.reason, d.original_sha256) for d in letters]
    return judge(truth, stored, seen)

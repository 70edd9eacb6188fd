"""docs/payload.md stays true: its examples are valid, its tables match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import normalize_payloads as p

from kernel.deadletters import REASONS, Reason
from processors.normalize.reasons import CHECK_ORDER
from processors.normalize.validate import Accepted, Rules, validate
from processors.normalize.vss import SIGNALS

DOC = (Path(__file__).parents[4] / "docs" / "payload.md").read_text(encoding="utf-8")


def test_every_json_example_is_accepted() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        body = json.loads(block)
        rec = p.record(body, value=block.encode(), hdrs=p.headers(1_750_000_000_000))
        outcome = validate(rec, Rules(future_tolerance_ms=300_000))
        assert isinstance(outcome, Accepted), outcome
        assert not outcome.check_digit_warning


def test_signal_table_lists_every_signal_with_its_field_and_unit() -> None:
    for s in SIGNALS:
        row = re.search(
            rf"^\| `{re.escape(s.vss_path)}` \| `{s.field}` \|.*\| (.+?) \|$",
            DOC,
            flags=re.MULTILINE,
        )
        assert row is not None, s.vss_path
        assert row.group(1).startswith(s.unit), (s.vss_path, row.group(1))


def test_every_reason_is_documented_for_its_stage() -> None:
    for reason in CHECK_ORDER:
        assert f"| `{reason.value}` | normalize |" in DOC, reason
    assert "| `bad_topic` | bridge |" in DOC and "| `oversize` | bridge |" in DOC
    for reason in Reason:  # every stage's (the whole table: tests/unit/kernel/test_deadletters.py)
        assert f"| `{reason.value}` | {', '.join(REASONS[reason].stages)} |" in DOC, reason

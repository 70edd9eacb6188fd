"""How a verdict is shown: rich tables for people, a JSON document for CI (pure rendering)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from simulator.truth.verdict import Verdict

# Width of the tables when the output is not a terminal (e.g. a CI log).
TABLE_WIDTH = 140


def _mark(ok: bool) -> str:
    return "[green]ok[/]" if ok else "[red]MISMATCH[/]"


def verdict_tables(verdict: Verdict, truth_path: Path) -> Group:
    """Valid messages by fault, malformed messages by kind, and what nobody expected."""
    valid = Table(title="valid messages: stored exactly once?", title_justify="left")
    for column in ("fault", "messages", "samples", "stored once", "missing", "doubled", ""):
        valid.add_column(column, justify="left" if column == "fault" else "right", no_wrap=True)
    for c in verdict.valid_by_fault:
        ok = c.missing == 0 and c.doubled == 0
        valid.add_row(
            c.fault,
            f"{c.messages:,}",
            f"{c.samples:,}",
            f"{c.stored_once:,}",
            str(c.missing),
            str(c.doubled),
            _mark(ok),
        )
    valid.add_row(
        "[bold]all valid",
        f"{verdict.valid_messages:,}",
        f"{verdict.expected_samples:,}",
        f"{verdict.stored_once:,}",
        str(verdict.missing_samples),
        str(verdict.doubled_samples),
        _mark(verdict.missing_samples == 0 and verdict.doubled_samples == 0),
    )
    valid.add_row("duplicate publishes", f"{verdict.duplicates_published:,}", "", "", "", "", "")

    bad = Table(
        title="messages to reject: dead-lettered with the right reason?", title_justify="left"
    )
    bad.add_column("fault", no_wrap=True)
    bad.add_column("stage:reason", no_wrap=True)
    for column in ("expected", "dead-lettered", "wrong reason", "missing", "repeats", ""):
        bad.add_column(column, justify="right", no_wrap=True)
    for m in verdict.malformed_by_fault:
        ok = m.wrong_reason == 0 and m.missing == 0
        bad.add_row(
            m.fault,
            f"{m.stage}:{m.reason}",
            str(m.expected),
            str(m.dead_lettered),
            str(m.wrong_reason),
            str(m.missing),
            str(m.repeats),
            _mark(ok),
        )

    other = Table(title="nobody expected these", title_justify="left")
    other.add_column("what", no_wrap=True)
    other.add_column("count", justify="right")
    other.add_column("")
    other.add_row(
        "stored samples of the run's VINs not sent as valid",
        str(verdict.unexpected_samples),
        _mark(verdict.unexpected_samples == 0),
    )
    other.add_row(
        "dead letters not matching a message to reject",
        str(verdict.unexpected_dead_letters),
        _mark(verdict.unexpected_dead_letters == 0),
    )
    other.add_row(
        "ignored: samples and dead letters of other VINs and topics",
        f"{verdict.ignored_samples} / {verdict.ignored_dead_letters}",
        "",
    )
    parts: list[Any] = [valid, bad, other]
    examples = {k: v for k, v in verdict.examples.items() if v}
    for name, items in examples.items():
        parts.append(Text(f"{name}: " + "; ".join(items), style="yellow"))
    summary = (
        f"[green]PASS[/]: the pipeline matches {truth_path}"
        if verdict.passed
        else f"[red]FAIL[/]: the pipeline does not match {truth_path}"
    )
    parts.append(Text.from_markup(summary))
    return Group(*parts)


def verdict_document(verdict: Verdict, truth_path: Path, waited_s: float) -> dict[str, Any]:
    """The JSON document ``verify --json`` prints."""
    return {"truth": str(truth_path), "waited_s": round(waited_s, 3), **verdict.as_dict()}

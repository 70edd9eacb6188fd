"""Files of records an operator hands in (registry, service visits): a CSV file with a header, or
JSON lines. Each row comes with its line number, or the reason it cannot be read as a row, so a
command can name every bad line of a file in one pass."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

Row = tuple[int, dict[str, Any] | str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A line of a file that gave no record, and its first problem in words."""

    line: int
    reason: str


def checked_rows(
    text: str,
    *,
    json_lines: bool,
    required: Sequence[str],
    check: Callable[[dict[str, Any]], T],
) -> Iterator[tuple[int, T | RejectedRow]]:
    """Every row of ``text`` (:func:`file_rows`), in order, with its line number: the record
    ``check`` makes of it, or rejected with the problem (``check`` raises :class:`ValueError`
    naming the first wrong field)."""
    for line, row in file_rows(text, json_lines=json_lines, required=required):
        if isinstance(row, str):
            yield line, RejectedRow(line, row)
            continue
        try:
            yield line, check(row)
        except ValueError as exc:
            yield line, RejectedRow(line, str(exc))


def file_rows(text: str, *, json_lines: bool, required: Sequence[str]) -> Iterator[Row]:
    """Every row of ``text`` with its line number; a string in place of a row is the problem.

    A CSV header without a ``required`` column rejects the whole file at line 1.
    """
    return json_rows(text) if json_lines else csv_rows(text, required)


def csv_rows(text: str, required: Sequence[str]) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [name for name in required if name not in header]
    if missing:
        yield 1, f"header lacks the column {missing[0]!r}"
        return
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            yield reader.line_num, "row has a different number of columns than the header"
            continue
        yield reader.line_num, dict(row)


def json_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, f"not JSON: {exc}"
            continue
        yield number, row if isinstance(row, dict) else "not a JSON object"

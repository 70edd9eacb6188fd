"""Market value indices: the file an operator imports, and the store's table (migration 0017).

One index per CSV row or JSON line: ``market`` (two capital letters, as in the registry),
``as_of`` (ISO date), ``factor`` (what used cars of the market fetch against the reference
catalog's depreciation curves, 0.2 to 5; 1.0: as the curves say) and ``source`` (where the
figure comes from). A repeated (market, as_of) replaces the stored one. The format is in
docs/registry.md ("Market value index").
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from database.db import connect_migrated
from kernel.errors import InfrastructureError
from kernel.rowfile import RejectedRow, checked_rows
from kernel.settings import mask_url

FIELDS = ("market", "as_of", "factor", "source")
MIN_FACTOR, MAX_FACTOR = 0.2, 5.0
_MARKET = re.compile(r"[A-Z]{2}")

UPSERT = """
INSERT INTO market_value_index (market, as_of, factor, source)
VALUES (%s, %s, %s, %s)
ON CONFLICT (market, as_of) DO UPDATE
SET factor = EXCLUDED.factor, source = EXCLUDED.source, recorded_at = now()
"""


@dataclass(frozen=True, slots=True)
class MarketIndex:
    market: str
    as_of: date
    factor: float
    source: str


def parse_market_index(text: str, *, json_lines: bool) -> Iterator[MarketIndex | RejectedRow]:
    """Each row of ``text`` as an index, or the line number and the first problem."""
    return (
        item for _, item in checked_rows(text, json_lines=json_lines, required=FIELDS, check=_index)
    )


def _index(row: dict[str, Any]) -> MarketIndex:
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    market = str(row.get("market") or "").strip()
    if not _MARKET.fullmatch(market):
        raise ValueError(f"market {market!r}: two capital letters, as in the registry")
    raw_day = str(row.get("as_of") or "").strip()
    try:
        as_of = date.fromisoformat(raw_day)
    except ValueError:
        raise ValueError(f"as_of {raw_day!r}: an ISO date (2026-06-01)") from None
    raw_factor = row.get("factor")
    factor = math.nan
    if isinstance(raw_factor, int | float | str) and not isinstance(raw_factor, bool):
        with contextlib.suppress(ValueError):
            factor = float(raw_factor)
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise ValueError(f"factor {raw_factor!r}: a number from {MIN_FACTOR} to {MAX_FACTOR}")
    source = str(row.get("source") or "").strip()
    if not source:
        raise ValueError("source is empty: name where the index comes from")
    return MarketIndex(market, as_of, factor, source)


def upsert_market_index(database_url: str, indices: Sequence[MarketIndex]) -> int:
    """Store ``indices`` in one transaction; returns how many were written."""
    try:
        with connect_migrated(database_url) as conn, conn.cursor() as cur:
            cur.executemany(UPSERT, [(i.market, i.as_of, i.factor, i.source) for i in indices])
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"writing market indices to {mask_url(database_url)} failed: {type(exc).__name__}"
        ) from exc
    return len(indices)

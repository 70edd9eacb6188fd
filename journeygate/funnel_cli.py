"""``journeygate funnel [--dealer D] [--since DATE] [--visit-window-days N] [--json]``: the
funnel of :mod:`journeygate.funnel` as tables or JSON.

Exit status: 0 when shown, 2 for bad options (one line), 1 when the store cannot be reached.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import Annotated

import orjson
import typer
from rich.console import Console

from kernel.cliopts import DatabaseUrl, fail, settings_from
from kernel.errors import InfrastructureError


def parse_since(text: str) -> datetime:
    """A date (``2026-03-01``: 00:00 UTC) or a date-time with a zone, as an aware UTC time."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--since: not a date (YYYY-MM-DD) or date-time with a zone: {text!r}") from None
    if value.tzinfo is None:
        raise fail(f"--since: a date-time needs a zone (e.g. {text}Z): {text!r}")
    return value.astimezone(UTC)


def funnel(
    dealer: Annotated[str | None, typer.Option("--dealer", help="Only this dealer")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only gate entries (and exits, visits) from this date on"),
    ] = None,
    visit_window_days: Annotated[
        int, typer.Option("--visit-window-days", help="A visit counts within N days (default 30)")
    ] = 30,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON document instead of the tables")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Per gate and dealer: entered, alerted, acknowledged, came in; where owners left; bills."""
    from journeygate.funnel import funnel_document, funnel_tables, read_funnel

    if not 1 <= visit_window_days <= 3660:
        raise fail(f"--visit-window-days: must be 1 to 3660, got {visit_window_days}")
    if dealer is not None and not dealer.strip():
        raise fail("--dealer: empty")
    since_ts = None if since is None else parse_since(since)
    settings = settings_from(database_url=database_url)
    try:
        result = read_funnel(settings.database_url, dealer, since_ts, visit_window_days)
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    if as_json:
        doc = funnel_document(result)
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    console = Console(width=160)
    for table in funnel_tables(result):
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("funnel")(funnel)

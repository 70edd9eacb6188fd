"""``journeygate score``: what the store predicted at the end of a simulation, against its
hidden future (``journeygate simulate --horizon-days N --truth FILE``), beside a naive
forecaster, an ideal reader of the published days (its dates only) and an oracle.

Exit status: 0 when scored, 2 for bad options or an unreadable truth file, 3 when the store
cannot be reached.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from kernel.cliopts import DatabaseUrl, fail, settings_from
from kernel.errors import ConfigError, InfrastructureError

EXIT_INFRASTRUCTURE = 3


def score(
    truth: Annotated[
        Path,
        typer.Option(
            "--truth", help="Truth file of `journeygate simulate --horizon-days N --truth FILE`"
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON document instead of the table")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Score the store's predictions against a simulation's hidden future."""
    from reference.catalog import default_catalog
    from simulator.scoring.report import score_document, score_table
    from simulator.scoring.score import score as compute
    from simulator.scoring.store import read_predictions
    from simulator.scoring.truth import read_scoring_truth

    settings = settings_from(database_url=database_url)
    try:
        truth_doc = read_scoring_truth(truth)
        if truth_doc.horizon_days <= 0:
            raise fail(f"{truth} has no hidden future: simulate with --horizon-days N")
        predictions = read_predictions(settings.database_url)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except InfrastructureError as exc:
        raise fail(str(exc), EXIT_INFRASTRUCTURE) from None
    result = compute(truth_doc, predictions, default_catalog())
    if as_json:
        sys.stdout.write(orjson.dumps(score_document(result), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        Console(width=160).print(score_table(result))

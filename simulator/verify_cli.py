"""``journeygate verify``: judge the store and the dead-letter topic against a truth file.

Exit status: 0 when the pipeline matches the truth, 1 when it does not, 2 for bad options or an
unreadable truth file, 3 when the store or Kafka cannot be reached.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from kernel.cliopts import DatabaseUrl, KafkaBootstrap, TopicPrefix, fail, settings_from
from kernel.errors import ConfigError, InfrastructureError
from simulator.truth.report import TABLE_WIDTH, verdict_document, verdict_tables
from simulator.truth.verdict import Verdict
from simulator.truth.verify import wait_for_verdict

EXIT_MISMATCH = 1
EXIT_INFRASTRUCTURE = 3


def verify(
    truth: Annotated[
        Path, typer.Option("--truth", help="Truth file written by `journeygate simulate --truth`")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON document instead of tables")
    ] = False,
    wait_s: Annotated[
        float,
        typer.Option(
            "--wait-s", min=0, help="Poll until the pipeline matches or this many seconds pass"
        ),
    ] = 0.0,
    database_url: DatabaseUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
) -> None:
    """Judge what the store and telemetry.dlq hold against a simulation's truth file."""
    settings = settings_from(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix
    )
    console = Console(stderr=True, quiet=as_json)
    started = time.monotonic()
    try:
        with console.status("judging the store and the dead-letter topic...") as status:

            def show(v: Verdict) -> None:
                waited = time.monotonic() - started
                status.update(
                    f"waiting for the pipeline ({waited:.0f} of {wait_s:.0f} s): stored"
                    f" {v.stored_once:,} of {v.expected_samples:,} samples, dead-lettered"
                    f" {v.malformed_dead_lettered:,} of {v.malformed_expected:,}"
                )

            verdict = wait_for_verdict(settings, truth, wait_s, on_verdict=show)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except InfrastructureError as exc:
        raise fail(str(exc), EXIT_INFRASTRUCTURE) from None
    if as_json:
        document = verdict_document(verdict, truth, time.monotonic() - started)
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out = Console()
        if not out.is_terminal:
            out = Console(width=TABLE_WIDTH)
        out.print(verdict_tables(verdict, truth))
    if not verdict.passed:
        raise typer.Exit(EXIT_MISMATCH)

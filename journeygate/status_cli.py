"""``journeygate status [--json]``: each stage's lag, oldest waiting record and last commit, the
dead letters, the store's rows, the sequence gaps, the fleet's usage shift by partition and the
newest prediction and alert (docs/operations.md, "Status"). Exit status: 0 healthy, 1 unhealthy
or a server unreachable, 2 bad options."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from kernel.cliopts import DatabaseUrl, KafkaBootstrap, TopicPrefix, fail, settings_from
from kernel.errors import InfrastructureError

EXIT_UNHEALTHY = 1


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document")] = False,
    max_lag: Annotated[
        int,
        typer.Option("--max-lag", min=0, help="Records waiting beyond which a stage is unhealthy"),
    ] = 100_000,
    max_wait_s: Annotated[
        float,
        typer.Option(
            "--max-wait-s", min=0, help="Seconds a record may wait before it is unhealthy"
        ),
    ] = 300.0,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Where each stage stands, and whether the pipeline is healthy (exit 1 if not)."""
    import orjson
    from rich.console import Console
    from rich.table import Table

    from journeygate.status import Limits, gather, judge, usage_shift_line
    from kernel.kafka import Topics

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url
    )
    try:
        readings = gather(settings)
    except InfrastructureError as exc:
        raise fail(str(exc), EXIT_UNHEALTHY) from None
    result = judge(
        readings, Topics.from_settings(settings), settings.topic_prefix, Limits(max_lag, max_wait_s)
    )
    if as_json:
        doc = {
            "healthy": result.healthy,
            "stages": [asdict(s) for s in result.stages],
            "dead_letters": [asdict(c) for c in result.dead_letters],
            "rows": dict(result.rows),
            "newest_prediction_age_s": result.newest_prediction_age_s,
            "newest_alert_age_s": result.newest_alert_age_s,
            "seq_gaps": asdict(result.gaps),
            "usage_shift": [asdict(u) for u in result.usage_shifts],
        }
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        console = Console(width=120)
        table = Table(title="Stages")
        for column in ("stage", "lag (records)", "oldest waiting", "last commit", "verdict"):
            table.add_column(column, justify="left" if column in ("stage", "verdict") else "right")
        for s in result.stages:
            verdict = "; ".join(s.unhealthy) or "ok"
            table.add_row(
                s.name, f"{s.lag:,}", _age(s.waiting_s), _age(s.last_commit_age_s), verdict
            )
        console.print(table)
        letters = sum(c.count - c.replayed for c in result.dead_letters)
        by = ", ".join(f"{c.stage}/{c.reason} {c.count - c.replayed}" for c in result.dead_letters)
        console.print(f"dead letters not replayed: {letters:,}" + (f" ({by})" if by else ""))
        gaps = result.gaps
        console.print(
            f"sequence gaps: {gaps.missing_seqs:,} messages never received"
            f" from {gaps.vehicles:,} vehicle{'' if gaps.vehicles == 1 else 's'}"
        )
        if result.usage_shifts:
            console.print(usage_shift_line(result.usage_shifts))
        console.print("rows (approx.): " + ", ".join(f"{t} {n:,}" for t, n in result.rows.items()))
        console.print(
            f"newest prediction: {_age(result.newest_prediction_age_s)} ago, "
            f"newest alert: {_age(result.newest_alert_age_s)} ago"
        )
        console.print("healthy" if result.healthy else "UNHEALTHY")
    if not result.healthy:
        raise typer.Exit(EXIT_UNHEALTHY)

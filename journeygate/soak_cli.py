"""``journeygate soak``: a thin shell over :mod:`journeygate.soak` (options, table, JSON).

Exit status: 0 when nothing was lost or doubled and no stage exited by itself, 1 when something
was (or a server failed), 2 for bad options, 130 when interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kernel.cliopts import fail
from kernel.errors import ConfigError, InfrastructureError

if TYPE_CHECKING:
    from journeygate.soak import SoakReport

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
MIB = 1024 * 1024


def register(app: typer.Typer) -> None:
    app.command("soak")(soak)


def soak(
    minutes: Annotated[
        float, typer.Option(help="How long the fleet publishes while faults come and go")
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the fleet and of the faults' draw")] = 1,
    rate: Annotated[float, typer.Option(help="Messages per second the fleet publishes")] = 150.0,
    vehicles: Annotated[int, typer.Option(help="Vehicles in the fleet")] = 300,
    fault_interval_s: Annotated[
        float, typer.Option(help="Mean seconds from one fault's end to the next one's start")
    ] = 30.0,
    drain_timeout_s: Annotated[
        float, typer.Option(help="Longest wait for the pipeline to catch up at the end")
    ] = 300.0,
    rss_every_s: Annotated[
        float, typer.Option(help="Seconds between memory samples", hidden=True)
    ] = 10.0,
    data_dir: Annotated[
        Path, typer.Option("--dir", help="Where the servers, logs and truth file go (emptied)")
    ] = Path("var/soak"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON document instead of tables")
    ] = False,
) -> None:
    """Run the pipeline under a fleet with random faults; judge it and show memory over time."""
    from rich.console import Console

    from journeygate.soak import SoakOptions, run_soak

    try:
        options = SoakOptions(
            minutes=minutes,
            seed=seed,
            rate_per_s=rate,
            vehicles=vehicles,
            fault_interval_s=fault_interval_s,
            drain_timeout_s=drain_timeout_s,
            rss_every_s=rss_every_s,
        )
    except ConfigError as exc:
        raise fail(str(exc)) from None
    # Ctrl-C (or SIGTERM) stops everything, even when started with SIGINT ignored (as a
    # background job of a non-interactive shell is).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console = Console(stderr=True)  # progress on stderr, also with --json
    try:
        report = run_soak(options, data_dir, console.print)
    except (ConfigError, InfrastructureError) as exc:
        raise fail(str(exc), 2 if isinstance(exc, ConfigError) else EXIT_FAILED) from None
    except KeyboardInterrupt:
        raise fail("interrupted; every process it started is stopped", EXIT_INTERRUPTED) from None
    if as_json:
        import orjson

        typer.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        show(report)
    if not report.passed:
        raise typer.Exit(EXIT_FAILED)


def show(report: SoakReport) -> None:
    from rich.console import Console
    from rich.table import Table

    doc = report.as_dict()
    console = Console(width=120)
    verdict = Table(title=f"journeygate soak: {doc['minutes']:g} min, seed {doc['seed']}")
    verdict.add_column("what")
    verdict.add_column("count", justify="right")
    verdict.add_row("messages published", f"{doc['sent']['messages']:,}")
    verdict.add_row("valid samples sent", f"{doc['sent']['valid_samples']:,}")
    verdict.add_row("stored exactly once", f"{doc['stored_once']:,}")
    verdict.add_row("lost", f"{doc['lost']:,}")
    verdict.add_row("doubled", f"{doc['doubled']:,}")
    letters = doc["dead_letters"]
    verdict.add_row(
        "dead-lettered / expected", f"{letters['dead_lettered']} / {letters['expected']}"
    )
    verdict.add_row("faults applied", f"{len(doc['faults'])}")
    verdict.add_row("stages that exited by themselves", f"{len(doc['unplanned_exits'])}")
    console.print(verdict)
    faults = Table(title="Faults and the time to recover from each")
    for column in ("at (s)", "fault", "target", "what", "lasted (s)", "recovered in (s)"):
        faults.add_column(column, justify="right" if "(s)" in column else "left")
    for f in doc["faults"]:
        recovered = "never" if f["recovered_s"] is None else f"{f['recovered_s']:.1f}"
        faults.add_row(
            f"{f['at_s']:.0f}",
            f["kind"],
            f["target"],
            f["detail"],
            f"{f['duration_s']:.1f}",
            recovered,
        )
    console.print(faults)
    memory = Table(title="Resident memory (MiB)")
    for column in ("process", "samples", "first", "peak", "last", "restarts"):
        memory.add_column(column, justify="left" if column == "process" else "right")
    for row in doc["memory"]:
        memory.add_row(
            row["process"],
            str(row["samples"]),
            f"{row['first_bytes'] / MIB:.0f}",
            f"{row['peak_bytes'] / MIB:.0f}",
            f"{row['last_bytes'] / MIB:.0f}",
            str(row["restarts"]),
        )
    console.print(memory)
    for e in doc["unplanned_exits"]:
        console.print(
            f"[red]{e['process']} exited by itself at {e['at_s']} s (status {e['status']})"
        )
    console.print(
        "[green]passed: nothing lost, nothing doubled[/]"
        if report.passed
        else "[red]FAILED: see the counts above and the stage logs[/]"
    )

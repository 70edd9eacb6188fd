"""Option types and helpers shared by every command line of the project (one line per error).

Settings are imported when a command reads them, not with this module: ``journeygate --help``
does not wait for pydantic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kernel.errors import ConfigError
from kernel.rowfile import RejectedRow

T = TypeVar("T")
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}

if TYPE_CHECKING:
    from kernel.settings import Settings

MqttUrl = Annotated[
    str | None, typer.Option("--mqtt-url", help="MQTT broker URL (env JOURNEYGATE_MQTT_URL)")
]
KafkaBootstrap = Annotated[
    str | None,
    typer.Option(
        "--kafka-bootstrap", help="Kafka bootstrap servers (env JOURNEYGATE_KAFKA_BOOTSTRAP)"
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="PostgreSQL URL (env JOURNEYGATE_DATABASE_URL)"),
]
TopicPrefix = Annotated[
    str | None,
    typer.Option("--topic-prefix", help="Kafka topic prefix (env JOURNEYGATE_TOPIC_PREFIX)"),
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        help="Serve Prometheus metrics on this port (0: off) (env JOURNEYGATE_METRICS_PORT)",
    ),
]

WaitS = Annotated[
    float,
    typer.Option(
        "--wait-s",
        min=0,
        help="Retry an unreachable server with backoff for up to this many seconds (0: try once)",
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    typer.echo(f"journeygate: {message}", err=True)
    return typer.Exit(code)


def json_lines_for(fmt: str | None, path: Path | None) -> bool:
    """Whether a records file is JSON lines: ``--format`` (csv or jsonl), else its name's
    suffix (a file without one, or standard output, is CSV)."""
    if fmt is None:
        return path is not None and path.suffix.lower() in JSON_SUFFIXES
    if fmt not in ("csv", "jsonl"):
        raise fail(f"--format {fmt!r}: use csv or jsonl")
    return fmt == "jsonl"


def read_rows(
    file: Path, parse: Callable[[str], Iterable[T | RejectedRow]]
) -> tuple[list[T], list[RejectedRow]]:
    """The records ``parse`` makes of FILE's text and the rows it rejects, each rejected one
    reported on standard error with its line; an unreadable file is one line, exit 2. A
    byte-order mark (a spreadsheet's UTF-8 export) is read past."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    accepted: list[T] = []
    rejected: list[RejectedRow] = []
    for item in parse(text):
        if isinstance(item, RejectedRow):
            rejected.append(item)
        else:
            accepted.append(item)
    for rej in rejected:
        typer.echo(f"{file}:{rej.line}: rejected: {rej.reason}", err=True)
    return accepted, rejected


def settings_from(**flags: Any) -> Settings:
    from kernel.settings import load_settings

    try:
        return load_settings(**flags)
    except ConfigError as exc:
        raise fail(str(exc)) from None

"""``journeygate dlq list|show|replay``: the dead-letter topic for an operator (docs/operations.md,
"Dead letters"). The choosing and the replay's records are :mod:`journeygate.dlq`.

Exit status: 0 on success, 1 when Kafka cannot be reached or a replay was not acknowledged, 2 for
a bad option or a position that holds no dead letter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from kernel.cliopts import KafkaBootstrap, TopicPrefix, fail, settings_from
from kernel.errors import InfrastructureError
from kernel.settings import Settings

if TYPE_CHECKING:
    from journeygate.dlq import ReplayPlan
    from kernel.deadletters import DeadLetterLog

dlq_app = typer.Typer(
    help="Read the dead-letter topic and replay dead letters after a fix.", no_args_is_help=True
)
Reason = Annotated[str | None, typer.Option("--reason", help="Only this reason code")]
Stage = Annotated[str | None, typer.Option("--stage", help="Only this stage")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text")]


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")


def _read(settings: Settings) -> DeadLetterLog:
    from kernel.deadletters import read_dead_letter_log

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(read_dead_letter_log(settings))
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None


def _check_filter(reason: str | None, stage: str | None) -> None:
    from kernel.deadletters import REASONS

    if reason is not None and reason not in {r.value for r in REASONS}:
        raise fail(f"--reason {reason!r}: not a reason code (docs/payload.md)")
    stages = sorted({s for info in REASONS.values() for s in info.stages})
    if stage is not None and stage not in stages:
        raise fail(f"--stage {stage!r}: choose from {', '.join(stages)}")


def _when(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="seconds")


@dlq_app.command("list")
def list_letters(
    reason: Reason = None,
    stage: Stage = None,
    records: Annotated[
        int, typer.Option("--records", min=0, help="Also list the newest N dead letters")
    ] = 0,
    as_json: AsJson = False,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
) -> None:
    """Dead letters counted by stage and reason (and how many were replayed)."""
    import orjson

    from journeygate.dlq import Filter, chosen, counts
    from kernel.kafka import Topics

    _check_filter(reason, stage)
    settings = settings_from(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    log = _read(settings)
    letters = chosen(log, Filter(reason, stage))
    table = counts(letters, log.replayed)
    newest = sorted(letters, key=lambda d: (d.ts_ms or 0, d.partition, d.offset))[-records:]
    listed = [
        {
            "position": d.position,
            "stage": d.stage,
            "reason": d.reason,
            "detail": d.detail,
            "key": (d.key or b"").decode("utf-8", "replace"),
            "source": f"{d.source_topic}:{d.source_partition}:{d.source_offset}",
            "dead_lettered_at": _when(d.ts_ms),
            "replayed": d.position in log.replayed,
        }
        for d in (newest if records else [])
    ]
    if as_json:
        doc = {
            "topic": Topics.from_settings(settings).dlq,
            "counts": [asdict(row) for row in table],
            "records": listed,
        }
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return
    if not table:
        typer.echo("no dead letters")
    for row in table:
        typer.echo(
            f"{row.stage:<10} {row.reason:<20} {row.count:>8} dead letters, "
            f"{row.replayed} replayed, newest {_when(row.newest_ts_ms)}"
        )
    for item in listed:
        mark = " (replayed)" if item["replayed"] else ""
        typer.echo(
            f"{item['position']:<10} {item['dead_lettered_at']} {item['stage']}/{item['reason']}"
            f" key {item['key']} from {item['source']}: {item['detail']}{mark}"
        )


@dlq_app.command("show")
def show(
    position: Annotated[str, typer.Argument(help="PARTITION:OFFSET on the dead-letter topic")],
    as_json: AsJson = False,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
) -> None:
    """One dead letter: why, where from, its headers and its value."""
    import orjson

    from journeygate.dlq import headers_text, shown
    from kernel.kafka import Topics

    parts = position.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise fail(f"{position!r}: give PARTITION:OFFSET, e.g. 0:42")
    settings = settings_from(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    log = _read(settings)
    found = next((d for d in log.letters if d.position == f"{int(parts[0])}:{int(parts[1])}"), None)
    if found is None:
        raise fail(f"no dead letter at {position} of {Topics.from_settings(settings).dlq}")
    doc = {
        "position": found.position,
        "stage": found.stage,
        "reason": found.reason,
        "detail": found.detail,
        "key": shown(found.key or b""),
        "source": {
            "topic": found.source_topic,
            "partition": found.source_partition,
            "offset": found.source_offset,
        },
        "mqtt_topic": found.mqtt_topic,
        "dead_lettered_at": _when(found.ts_ms),
        "value_cut": found.cut,
        "replayed": found.position in log.replayed,
        "headers": headers_text(found.headers),
        "value": shown(found.value),
    }
    if as_json:
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return
    for name, value in doc.items():
        typer.echo(f"{name}: {value}")


@dlq_app.command("replay")
def replay(
    reason: Reason = None,
    stage: Stage = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be replayed; send nothing")
    ] = False,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
) -> None:
    """Send the chosen dead letters back to the topics they came from, each once."""
    from journeygate.dlq import Filter, plan_replay
    from kernel.kafka import Topics

    _check_filter(reason, stage)
    if reason is None and stage is None:
        raise fail("choose what to replay with --reason and/or --stage")
    settings = settings_from(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    log = _read(settings)
    now_ms = time.time_ns() // 1_000_000
    plan = plan_replay(log, Filter(reason, stage), Topics.from_settings(settings), now_ms)
    for skip in plan.skipped:
        typer.echo(f"skipped {skip.letter.position} ({skip.letter.reason}): {skip.why}")
    if dry_run:
        for r in plan.replays:
            typer.echo(f"would replay {r.letter.position} ({r.letter.reason}) to {r.topic}")
        typer.echo(
            f"{len(plan.replays)} to replay, {len(plan.skipped)} skipped, "
            f"{plan.already} replayed before"
        )
        return
    try:
        asyncio.run(_send(settings, plan))
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    typer.echo(
        f"{len(plan.replays)} replayed, {len(plan.skipped)} skipped, {plan.already} replayed before"
    )


async def _send(settings: Settings, plan: ReplayPlan) -> None:
    """Each topic's replays, acknowledged, then their markers on the dead-letter topic."""
    from aiokafka.errors import KafkaError

    from journeygate.dlq import marker
    from kernel.kafka import Topics, make_producer, send_batches, start_client

    if not plan.replays:
        return
    producer = make_producer(settings)
    await start_client(producer, settings)
    try:
        by_topic: dict[str, list[int]] = {}
        for i, r in enumerate(plan.replays):
            by_topic.setdefault(r.topic, []).append(i)
        deliveries = []
        for topic, members in by_topic.items():
            deliveries += await send_batches(
                producer, topic, [plan.replays[i].record for i in members]
            )
        await asyncio.gather(*deliveries)
        dlq = Topics.from_settings(settings).dlq
        markers = [marker(r.letter) for r in plan.replays]
        await asyncio.gather(*await send_batches(producer, dlq, markers))
    except KafkaError as exc:
        raise InfrastructureError(f"replay not acknowledged by Kafka: {exc}") from exc
    finally:
        await producer.stop()

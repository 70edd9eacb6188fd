"""``journeygate status`` against real Kafka and PostgreSQL: lag, the oldest waiting record, the
last commit, dead letters, the verdict and its exit status."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from journeygate.status_cli import register
from kernel.kafka import Topics, dlq_headers, make_producer, start_client
from kernel.settings import Settings

pytestmark = pytest.mark.integration
VIN = "1M8GDM9AXKP042788"


def status(settings: Settings, *args: str, database_url: str | None = None) -> Any:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    flags = [
        "--kafka-bootstrap", settings.kafka_bootstrap,
        "--topic-prefix", settings.topic_prefix,
        "--database-url", database_url or settings.database_url,
    ]  # fmt: skip
    return CliRunner().invoke(app, ["status", *args, *flags])


async def produce(settings: Settings, topic: str, age_s: float, count: int) -> list[Any]:
    producer = make_producer(settings)
    await start_client(producer, settings)
    try:
        ts_ms = int((time.time() - age_s) * 1000)
        sent = [
            await producer.send(topic, value=b"x", key=VIN.encode(), timestamp_ms=ts_ms + n)
            for n in range(count)
        ]
        return list(await asyncio.gather(*sent))
    finally:
        await producer.stop()


def test_a_stage_behind_with_an_old_record_waiting_is_unhealthy_until_it_commits(
    settings: Settings,
) -> None:
    topics = Topics.from_settings(settings)
    metas = asyncio.run(produce(settings, topics.frames, age_s=900, count=3))
    letter = dlq_headers(
        stage="store", reason="undecodable", detail="not a frame", source_topic=topics.frames,
        source_partition=0, source_offset=0,
    )  # fmt: skip

    async def dead() -> None:
        producer = make_producer(settings)
        await start_client(producer, settings)
        try:
            await (await producer.send(topics.dlq, value=b"?", key=b"k", headers=letter))
        finally:
            await producer.stop()

    asyncio.run(dead())

    out = status(settings, "--json")
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    by = {s["name"]: s for s in doc["stages"]}
    assert by["store"]["lag"] == 3 and by["signals"]["lag"] == 3
    assert 890 < by["store"]["waiting_s"] < 1000
    assert by["store"]["unhealthy"] and by["store"]["last_commit_age_s"] is None
    assert by["normalize"]["lag"] == 0 and by["journey"]["lag"] == 0
    assert [(d["stage"], d["reason"], d["count"]) for d in doc["dead_letters"]] == [
        ("store", "undecodable", 1)
    ]
    assert doc["healthy"] is False

    # The store and the signals processor commit past the three frames.
    partition, end = metas[-1].partition, metas[-1].offset + 1
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for group in ("journeygate-store", "journeygate-signals"):
            conn.execute(
                "INSERT INTO consumer_offsets (consumer_group, topic, kafka_partition,"
                " next_offset) VALUES (%s, %s, %s, %s)",
                (settings.topic_prefix + group, topics.frames, partition, end),
            )
    out = status(settings)
    assert out.exit_code == 0, out.output
    assert "healthy" in out.stdout and "UNHEALTHY" not in out.stdout
    assert "store/undecodable 1" in out.stdout
    doc = json.loads(status(settings, "--json").stdout)
    by = {s["name"]: s for s in doc["stages"]}
    assert by["store"]["lag"] == 0 and by["store"]["waiting_s"] is None
    assert by["store"]["last_commit_age_s"] < 60

    assert status(settings, "--max-lag", "-1").exit_code == 2


def test_sequence_gaps_in_the_store_are_counted_per_vehicle(settings: Settings) -> None:
    assert json.loads(status(settings, "--json").stdout)["seq_gaps"] == {
        "vehicles": 0, "missing_seqs": 0,
    }  # fmt: skip
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        # one boot of VIN missing seqs 3-4 and another missing 9; one complete boot elsewhere
        for vin, boot, seqs in ((VIN, "b1", [0, 1, 2, 5]), (VIN, "b2", [*range(9), 10]),
                                ("1HGCM82633A004352", "b1", [0, 1])):  # fmt: skip
            conn.execute(
                "INSERT INTO telemetry_acks (vin, boot_id, acked_seq, ahead_seqs, high_seq,"
                " missing_seqs, missing_change, last_low_seq) SELECT %s, %s, m.acked_seq,"
                " m.ahead_seqs, m.high_seq, m.missing_seqs, m.missing_seqs, 0"
                " FROM merged_acks(-1, '{}', seq_ranges(%s)) AS m",
                (vin, boot, seqs),
            )
    doc = json.loads(status(settings, "--json").stdout)
    assert doc["seq_gaps"] == {"vehicles": 1, "missing_seqs": 3}
    assert "sequence gaps: 3 messages never received from 1 vehicle" in status(settings).stdout


def test_an_unreachable_store_is_one_line_and_exit_1(settings: Settings) -> None:
    out = status(settings, database_url="postgresql://nobody@127.0.0.1:1/none")
    assert out.exit_code == 1
    assert out.stderr.count("\n") == 1 and "journeygate:" in out.stderr
    assert "Traceback" not in out.output


def test_row_counts_are_the_live_rows_before_any_analyze(settings: Settings) -> None:
    assert json.loads(status(settings, "--json").stdout)["rows"]["vehicle_state"] == 0
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO vehicle_state (vin, as_of_ts)"
            " SELECT 'VIN' || n, now() FROM generate_series(1, 250) AS n"
        )
    deadline = time.monotonic() + 10  # the statistics are flushed within a second of a commit
    while (rows := json.loads(status(settings, "--json").stdout)["rows"])["vehicle_state"] < 250:
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
    assert rows["vehicle_state"] == 250, rows


def test_the_fleet_s_usage_shift_is_shown_by_partition(settings: Settings) -> None:
    assert json.loads(status(settings, "--json").stdout)["usage_shift"] == []
    frames = Topics.from_settings(settings).frames
    counts = [0] * 41
    counts[20 - 4] = 30  # 30 vehicles at log ratio -0.2
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for partition, state in ((0, {"day": 20500, "shift": -4, "counts": counts,
                                      "previous": [0] * 41}),
                                 (1, {"day": 20500, "shift": 0, "counts": [0] * 41,
                                      "previous": [0] * 41})):  # fmt: skip
            conn.execute(
                "INSERT INTO usage_shift (consumer_group, topic, kafka_partition, next_offset,"
                " state) VALUES (%s, %s, %s, 10, %s)",
                (settings.topic("journeygate-signals"), frames, partition, json.dumps(state)),
            )
        conn.execute(  # another deployment's
            "INSERT INTO usage_shift (consumer_group, topic, kafka_partition, next_offset, state)"
            " VALUES ('other-signals', %s, 2, 1, '{}')",
            (frames,),
        )
    doc = json.loads(status(settings, "--json").stdout)
    assert doc["usage_shift"] == [
        {"partition": 0, "shift_log": pytest.approx(-0.2), "vehicles": 30},
        {"partition": 1, "shift_log": 0.0, "vehicles": 0},
    ]
    assert "taken off the forecasts, by partition: 0: -18% (30 vehicles), 1: +0% (0 vehicles)" in (
        status(settings).stdout
    )

"""The normalizer against real Kafka-protocol and PostgreSQL servers."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from normalize_kit import (
    Sent,
    bridge_headers,
    caught_up,
    committed_offsets,
    end_offsets,
    eventually,
    produce_raw,
    read_all,
    register,
    running_normalizer,
)
from psycopg import sql

from kernel.health import readiness
from kernel.kafka import Topics, header
from kernel.metrics import registry
from kernel.settings import Settings
from processors.normalize import metrics as normalize_metrics
from processors.normalize.runner import run_normalizer
from schemas.codec import FrameCodec
from schemas.records import Sample, TelemetryFrame

pytestmark = pytest.mark.integration

EU_VIN = "WVWZZZ1JZXW000001"  # outside North America: check digit only counted
NA_VIN = "1M8GDM9AXKP042788"  # North American, correct check digit
LATE_VIN = "WVWZZZ1KZAW123456"  # registered while the normalizer runs
STRANGER = "WVWZZZ3CZWE999999"  # never registered
CODEC = FrameCodec()


def payload(vin: str, seq: int, *, boot_id: str = "boot-a", **sample: Any) -> bytes:
    ts_ms = int(time.time() * 1000) - 60_000
    body = {
        "v": 1,
        "vin": vin,
        "boot_id": boot_id,
        "seq": seq,
        "sample": {"ts_ms": ts_ms, **{k.replace("_", "."): v for k, v in sample.items()}},
    }
    return json.dumps(body).encode()


def raw(vin: str, value: bytes, **kw: Any) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return vin.encode(), value, bridge_headers(vin, **kw)


def metric(name: str, **labels: str) -> float:
    value = registry(normalize_metrics.STAGE).get_sample_value(
        f"journeygate_normalize_{name}", labels
    )
    return value or 0.0


def expected_frame(sent: Sent) -> TelemetryFrame:
    body = json.loads(sent.value)
    s = body["sample"]
    ingest_ms = int(header(sent.headers, "ingest_ts_ms") or b"0")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return TelemetryFrame(
        vin=body["vin"],
        boot_id=body["boot_id"],
        seq=body["seq"],
        ingest_ts=epoch + timedelta(milliseconds=ingest_ms),
        bridge_id="bridge-test",
        samples=(
            Sample(
                sample_idx=0,
                event_ts=epoch + timedelta(milliseconds=s["ts_ms"]),
                odometer_m=s.get("Vehicle.TraveledDistance"),
                speed_kmh=s.get("Vehicle.Speed"),
                dtcs=tuple(s["Vehicle.Diagnostics.DTCList"])
                if "Vehicle.Diagnostics.DTCList" in s
                else None,
            ),
        ),
    )


async def frames_on(settings: Settings) -> list[TelemetryFrame]:
    return [
        CODEC.decode(r.value)
        for r in await read_all(settings, Topics.from_settings(settings).frames)
    ]


def test_valid_records_become_frames_and_invalid_ones_dead_letters(
    make_settings: Any,
) -> None:
    settings = make_settings(registry_refresh_min_s=0.0)
    register(settings, EU_VIN, NA_VIN)
    topics = Topics.from_settings(settings)
    dup_before = metric("duplicates_total")
    gaps_before = metric("seq_gaps_total")

    async def scenario() -> None:
        async with running_normalizer(settings) as task:
            good = [
                raw(
                    EU_VIN, payload(EU_VIN, 1, Vehicle_TraveledDistance=120_500, Vehicle_Speed=42.5)
                ),
                raw(NA_VIN, payload(NA_VIN, 1, Vehicle_Diagnostics_DTCList=["P0301"])),
                raw(EU_VIN, payload(EU_VIN, 4, Vehicle_Speed=0)),  # seqs 2, 3 never come
            ]
            bad = [
                (raw(EU_VIN, b'{"v": 1, "vin": '), "invalid_json"),
                (raw(EU_VIN, payload(EU_VIN, 2, Vehicle_Speed=999)), "out_of_range"),
                (raw(STRANGER, payload(STRANGER, 1)), "unknown_vin"),
                ((EU_VIN.encode(), payload(EU_VIN, 3), []), "missing_headers"),
                (raw(NA_VIN, payload(EU_VIN, 5)), "vin_mismatch"),
                (raw(EU_VIN, b'{"v": 1, "seq": NaN}'), "non_finite_number"),
            ]
            repeat = raw(EU_VIN, good[0][1], ingest_ts_ms=None)
            mixed = [
                good[0],
                bad[0][0],
                bad[1][0],
                good[1],
                bad[2][0],
                bad[3][0],
                repeat,
                bad[4][0],
                good[2],
                bad[5][0],
            ]
            sent = await produce_raw(settings, mixed)
            await eventually(lambda: caught_up(settings), "the first records to be committed", task)

            frames = await frames_on(settings)
            by_id = {f.frame_id: f for f in frames}
            assert len(frames) == 3, [f.frame_id for f in frames]  # the repeat was dropped
            lag = registry(normalize_metrics.STAGE)
            for p in {s.partition for s in sent}:  # caught up: nothing left on its partitions
                labels = {"topic": topics.raw, "partition": str(p)}
                assert lag.get_sample_value("journeygate_normalize_lag_records", labels) == 0.0
            for s in (sent[0], sent[3], sent[8]):
                fr = expected_frame(s)
                assert by_id[fr.frame_id] == fr
            # each frame carries its times for the latency metrics downstream
            for rec in await read_all(settings, topics.frames):
                fr = CODEC.decode(rec.value)
                hdrs = list(rec.headers)
                newest = max(smp.event_ts for smp in fr.samples)
                assert header(hdrs, "event_ts_ms") == str(int(newest.timestamp() * 1000)).encode()
                assert (
                    header(hdrs, "ingest_ts_ms")
                    == str(int(fr.ingest_ts.timestamp() * 1000)).encode()
                )

            letters = await read_all(settings, topics.dlq)
            got = {
                (
                    int(header(r.headers, "dlq_source_partition") or b"-1"),
                    int(header(r.headers, "dlq_source_offset") or b"-1"),
                ): r
                for r in letters
            }
            assert len(letters) == len(bad)
            for s, (_record, reason) in zip(
                [sent[i] for i in (1, 2, 4, 5, 7, 9)], bad, strict=True
            ):
                letter = got[(s.partition, s.offset)]
                hdrs = list(letter.headers)
                assert header(hdrs, "dlq_reason") == reason.encode()
                assert header(hdrs, "dlq_stage") == b"normalize"
                assert header(hdrs, "dlq_source_topic") == topics.raw.encode()
                assert (letter.key, letter.value) == (s.key, s.value)
                for name, value in s.headers:
                    assert header(hdrs, name) == value

            # A vehicle registered after start-up is accepted once it is registered.
            register(settings, LATE_VIN)
            await produce_raw(settings, [raw(LATE_VIN, payload(LATE_VIN, 1))])
            await eventually(lambda: caught_up(settings), "the late vehicle's record", task)
            assert LATE_VIN in {f.vin for f in await frames_on(settings)}

    asyncio.run(scenario())
    assert metric("duplicates_total") - dup_before == 1
    assert metric("seq_gaps_total") - gaps_before == 2


def test_offsets_are_committed_only_for_what_was_produced_and_restart_re_emits_nothing(
    settings: Settings,
) -> None:
    register(settings, EU_VIN)
    topics = Topics.from_settings(settings)

    async def scenario() -> None:
        first = [raw(EU_VIN, payload(EU_VIN, seq)) for seq in range(1, 41)]
        first.insert(20, raw(EU_VIN, b"garbage"))
        await produce_raw(settings, first)
        async with running_normalizer(settings) as task:
            await eventually(lambda: caught_up(settings), "the first run to commit", task)
        # After a clean stop, the committed offsets are exactly the end offsets.
        assert await committed_offsets(settings) == await end_offsets(settings, topics.raw)
        frames_end = sum((await end_offsets(settings, topics.frames)).values())
        dlq_end = sum((await end_offsets(settings, topics.dlq)).values())
        assert (frames_end, dlq_end) == (40, 1)

        async with running_normalizer(settings) as task:
            await produce_raw(settings, [raw(EU_VIN, payload(EU_VIN, 41))])
            await eventually(lambda: caught_up(settings), "the second run", task)
        assert sum((await end_offsets(settings, topics.frames)).values()) == 41
        assert sum((await end_offsets(settings, topics.dlq)).values()) == 1
        frames = await frames_on(settings)
        assert sorted(f.seq for f in frames) == list(range(1, 42))

    asyncio.run(scenario())


def test_many_vehicles_keep_their_order_across_partitions(make_settings: Any) -> None:
    settings = make_settings(batch_max_records=97)
    vins = [f"WVWZZZ1JZXW{n:06d}" for n in range(1, 21)]
    register(settings, *vins)

    async def scenario() -> None:
        records = [
            raw(vin, payload(vin, seq, Vehicle_TraveledDistance=1000 * seq))
            for seq in range(1, 26)
            for vin in vins
        ]
        records += [raw(vin, b"[]") for vin in vins[:5]]
        async with running_normalizer(settings) as task:
            await produce_raw(settings, records)
            await eventually(lambda: caught_up(settings), "500 records", task)
        frames = await frames_on(settings)
        assert len(frames) == 500
        for vin in vins:
            assert [f.seq for f in frames if f.vin == vin] == list(range(1, 26))

    asyncio.run(scenario())


def test_registry_outage_blocks_the_batch_without_dead_letters_or_commits(
    make_settings: Any, template_db: str
) -> None:
    settings = make_settings(registry_refresh_min_s=0.0)
    dbname = urlsplit(settings.database_url).path.lstrip("/")
    admin_url = urlunsplit(urlsplit(settings.database_url)._replace(path="/postgres"))
    topics = Topics.from_settings(settings)
    loads_before = metric("registry_loads_total")
    failures_before = metric("registry_load_failures_total")

    def admin(statement: sql.Composed) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(statement)

    async def scenario() -> None:
        async with running_normalizer(settings) as task:

            async def loaded() -> bool:
                return metric("registry_loads_total") > loads_before

            await eventually(loaded, "the first registry load", task)
            admin(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
            sent = await produce_raw(settings, [raw(LATE_VIN, payload(LATE_VIN, 1))])

            async def retrying() -> bool:
                return metric("registry_load_failures_total") - failures_before >= 2

            await eventually(retrying, "the registry load to fail twice", task)
            assert await committed_offsets(settings) == {p: 0 for p in range(4)}
            assert await read_all(settings, topics.frames) == []
            assert await read_all(settings, topics.dlq) == []

            admin(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(dbname), sql.Identifier(template_db)
                )
            )
            register(settings, LATE_VIN)
            await eventually(lambda: caught_up(settings), "recovery", task)
            assert [f.frame_id for f in await frames_on(settings)] == [f"{LATE_VIN}:boot-a:1"]
            assert await read_all(settings, topics.dlq) == []
            assert (await committed_offsets(settings))[sent[0].partition] == sent[0].offset + 1

    asyncio.run(scenario())


def test_an_unreachable_registry_at_start_up_is_waited_for_until_stopped(
    make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port where, once closed, nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(database_url=f"postgresql://postgres@127.0.0.1:{port}/none")
    ready = readiness("normalize")
    unmet: list[dict[str, str]] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(run_normalizer(settings, stop))
        deadline = time.monotonic() + 20
        while "cannot reach" not in ready.reasons().get("postgresql", ""):
            assert time.monotonic() < deadline, ready.reasons()
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # more attempts, logged no more
        unmet.append(ready.reasons())
        stop.set()
        await asyncio.wait_for(running, timeout=15)  # returns, raising nothing

    with caplog.at_level(logging.INFO, logger="journeygate.normalize"):
        asyncio.run(scenario())
    assert "cannot reach PostgreSQL" in unmet[0]["postgresql"]
    waits = [r for r in caplog.records if "cannot reach PostgreSQL" in r.getMessage()]
    assert len(waits) == 1  # one line, not one per attempt

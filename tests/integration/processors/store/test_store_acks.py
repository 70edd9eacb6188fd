"""The store writer's acknowledgements against a real Kafka-protocol broker and PostgreSQL.

Frames go to telemetry.frames and receipts to telemetry.receipts as the normalizer writes them;
the store writer runs as a task. What it stores in ``telemetry_acks`` and what it sends on
telemetry.acks are read back from PostgreSQL and Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer

from kernel import headers as h
from kernel.acks import (
    RECEIPT_DEAD_LETTER,
    RECEIPT_REPEAT,
    Ack,
    decode_ack_lines,
    encode_receipt,
)
from kernel.kafka import Topics, make_producer
from kernel.metrics import registry
from kernel.settings import Settings
from processors.store.metrics import STAGE
from processors.store.runner import StoreOptions, run_store_with
from schemas.codec import FrameCodec
from schemas.records import Sample, TelemetryFrame

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
CAR = "WVWZZZ1KZ8W000101"
OTHER = "WVWZZZ1KZ8W000202"


def frame(vin: str, boot_id: str, seq: int, samples: int = 2) -> TelemetryFrame:
    at = T0 + timedelta(minutes=seq)
    return TelemetryFrame(
        vin=vin,
        boot_id=boot_id,
        seq=seq,
        ingest_ts=at + timedelta(seconds=5),
        bridge_id="bridge-t",
        samples=tuple(
            Sample(sample_idx=j, event_ts=at + timedelta(seconds=j), odometer_m=1000 * seq + j)
            for j in range(samples)
        ),
    )


async def produce(
    settings: Settings,
    frames: Sequence[TelemetryFrame] = (),
    receipts: Sequence[tuple[str, str, str, int]] = (),
) -> None:
    """Frames, then receipts ``(vin, kind, boot_id, seq)``, each acknowledged by Kafka."""
    topics = Topics.from_settings(settings)
    codec = FrameCodec()
    producer = make_producer(settings)
    await producer.start()
    try:
        sent = [
            await producer.send(
                topics.frames,
                value=codec.encode(f),
                key=f.vin.encode(),
                headers=[(h.HEADER_FRAME_ID, f.frame_id.encode())],
            )
            for f in frames
        ]
        sent += [
            await producer.send(
                topics.receipts, value=encode_receipt(kind, seq, boot), key=vin.encode()
            )
            for vin, kind, boot, seq in receipts
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def ack_rows(settings: Settings) -> dict[tuple[str, str], tuple[int, int, int]]:
    """``(vin, boot_id)``: ``(acked_seq, high_seq, missing_seqs)``."""
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cur = await conn.execute(
            "SELECT vin, boot_id, acked_seq, high_seq, missing_seqs FROM telemetry_acks"
        )
        return {(v, b): (a, hi, m) for v, b, a, hi, m in await cur.fetchall()}


class AckReader:
    """Reads telemetry.acks from the beginning, as the bridge's relay would."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = AIOKafkaConsumer(
            Topics.from_settings(settings).acks,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.acks: list[Ack] = []
        self.bad = 0

    async def read(self) -> list[Ack]:
        for records in (await self.consumer.getmany(timeout_ms=100)).values():
            for r in records:
                acks, bad = decode_ack_lines(r.value)
                self.acks += acks
                self.bad += bad
        return self.acks

    def latest(self, vin: str, boot_id: str) -> int | None:
        seqs = [a.seq for a in self.acks if a.vin == vin and a.boot_id == boot_id]
        return max(seqs) if seqs else None


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_store(settings: Settings, **options: Any) -> AsyncIterator[AckReader]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_store_with(settings, stop, StoreOptions(**options)))
    reader = AckReader(settings)
    await reader.consumer.start()
    try:
        yield reader
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
        await reader.consumer.stop()


def metric(name: str) -> float:
    return registry(STAGE).get_sample_value(f"journeygate_store_{name}") or 0.0


def test_the_contiguous_mark_covers_stored_and_dead_lettered_seqs_and_a_gap_stays_visible(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(store_ack_interval_ms=0)
    opened, filled, sent = metric("seq_gaps_total"), metric("seq_gaps_filled_total"), 0.0

    async def scenario() -> None:
        nonlocal sent
        async with running_store(settings) as reader:
            # seq 3 was dead-lettered by the normalizer; seq 5 never arrived (yet)
            await produce(
                settings,
                [frame(CAR, "b1", s) for s in (0, 1, 2, 4, 6)] + [frame(OTHER, "x", 0)],
                [(CAR, RECEIPT_DEAD_LETTER, "b1", 3)],
            )
            await eventually(
                lambda: _has(reader, CAR, "b1", 4), "the acknowledgement of seq 0 to 4"
            )
            await eventually(lambda: _has(reader, OTHER, "x", 0), "the other vehicle's")
            assert await ack_rows(settings) == {(CAR, "b1"): (4, 6, 1), (OTHER, "x"): (0, 0, 0)}
            assert reader.latest(OTHER, "x") == 0
            sent = metric("acks_sent_total")
            # the device sends seq 5 again: the gap fills and the mark jumps to 6
            await produce(settings, [frame(CAR, "b1", 5)])
            await eventually(lambda: _has(reader, CAR, "b1", 6), "the acknowledgement of 6")
            assert (await ack_rows(settings))[(CAR, "b1")] == (6, 6, 0)
            # beyond a gap nothing new is acknowledged, and the gap is counted until it fills
            sent_before = len(await reader.read())
            await produce(settings, [frame(CAR, "b1", 8)])
            await eventually(lambda: _rows(settings, (CAR, "b1"), (6, 8, 1)), "the row past 7")
            await produce(settings, [frame(CAR, "b1", 7)])
            await eventually(lambda: _has(reader, CAR, "b1", 8), "the acknowledgement of 8")
            assert [a.seq for a in reader.acks[sent_before:] if a.vin == CAR] == [8]
        # nothing is acknowledged beyond what is handled
        assert max(a.seq for a in reader.acks if a.vin == CAR) == 8
        assert reader.bad == 0

    asyncio.run(scenario())
    assert metric("seq_gaps_total") - opened >= 1
    assert (metric("seq_gaps_total") - opened) - (metric("seq_gaps_filled_total") - filled) == 0
    assert metric("acks_sent_total") > sent


def test_a_boot_without_seq_0_is_not_acknowledged_and_a_new_boot_starts_a_new_sequence(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(store_ack_interval_ms=0)

    async def scenario() -> None:
        async with running_store(settings) as reader:
            await produce(settings, [frame(CAR, "old", s) for s in (0, 1)])
            await eventually(lambda: _has(reader, CAR, "old", 1), "the old boot's ack")
            await produce(settings, [frame(CAR, "new", s) for s in (1, 2)])
            await eventually(
                lambda: _rows(settings, (CAR, "new"), (-1, 2, 1)), "the new boot's row"
            )
            await produce(settings, [frame(CAR, "new", 0)])
            await eventually(lambda: _has(reader, CAR, "new", 2), "the new boot's ack")
            assert reader.latest(CAR, "old") == 1  # boots are acknowledged apart
            assert min(a.seq for a in reader.acks if a.boot_id == "new") == 2

    asyncio.run(scenario())


def test_a_repeat_gets_the_acknowledgement_again_and_a_replay_changes_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    """A device that missed its acknowledgement sends the message again: whether it reaches
    the store as a frame or as the normalizer's repeat receipt, the acknowledgement goes out
    again. Frames read twice (a store restart) leave the table as it was."""
    settings = make_settings(store_ack_interval_ms=0)
    frames = [frame(CAR, "b1", s) for s in range(3)]

    async def scenario() -> None:
        async with running_store(settings) as reader:
            await produce(settings, frames)
            await eventually(lambda: _has(reader, CAR, "b1", 2), "the first acknowledgement")
            first = len(reader.acks)
            await produce(settings, receipts=[(CAR, RECEIPT_REPEAT, "b1", 2)])
            await eventually(lambda: _count(reader, first + 1), "the ack after a repeat receipt")
            await produce(settings, [frames[1]])
            await eventually(lambda: _count(reader, first + 2), "the ack after a repeated frame")
            assert [a.seq for a in reader.acks[first:]] == [2, 2]
        before = await ack_rows(settings)
        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            await conn.execute("DELETE FROM consumer_offsets")  # read everything again
            await conn.commit()
        async with running_store(settings) as reader:
            await eventually(lambda: _count(reader, first + 3), "the replayed batch's acks")
        assert await ack_rows(settings) == before

    asyncio.run(scenario())


def test_without_acknowledgement_nothing_is_tracked(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(store_ack_interval_ms=0, store_acks=False)

    async def scenario() -> None:
        async with running_store(settings):
            await produce(settings, [frame(CAR, "b1", 0)], [(CAR, RECEIPT_DEAD_LETTER, "b1", 1)])

            async def stored() -> bool:
                async with await psycopg.AsyncConnection.connect(settings.database_url) as c:
                    cur = await c.execute("SELECT count(*) FROM consumer_offsets")
                    row = await cur.fetchone()
                    return row is not None and row[0] >= 2

            await eventually(stored, "the batch to be committed")
        assert await ack_rows(settings) == {}

    asyncio.run(scenario())


async def _has(reader: AckReader, vin: str, boot_id: str, seq: int) -> bool:
    await reader.read()
    latest = reader.latest(vin, boot_id)
    return latest is not None and latest >= seq


async def _count(reader: AckReader, count: int) -> bool:
    return len(await reader.read()) >= count


async def _rows(settings: Settings, key: tuple[str, str], row: tuple[int, int, int]) -> bool:
    return (await ack_rows(settings)).get(key) == row

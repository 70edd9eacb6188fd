"""Raw ceilings: what the protocols and client libraries do alone, on the same servers and data.

Each ceiling runs in its own process
(``python -m journeygate.bench.ceilings NAME '<args as JSON>'``) and measures its own CPU time
around the work, printing a :class:`~journeygate.bench.stats.Run` as one JSON line:

- ``paho``: a plain paho-mqtt QoS 1 subscriber (automatic PUBACK) draining the queue of its
  persistent session, which the benchmark filled beforehand;
- ``passthrough``: a plain aiokafka consume → produce (``send()`` per record, every delivery of
  a batch awaited, then the offsets committed); ``passthrough_batch`` does the same with
  ``create_batch``/``send_batch`` per partition;
- ``consume``: the consuming half alone (``getmany`` and commit);
- ``copy``: psycopg binary COPY of the store's rows into ``telemetry``, one transaction per batch;
- ``avro``: fastavro's schemaless decode of the frames, nothing else;
- ``decode``: a decoder of the stages on the records they read, beside the library path it
  replaces (``args["decoder"]``): ``frame_readings`` (:meth:`FrameCodec.decode_readings`, what
  the signals processor reads), ``frame`` (:meth:`FrameCodec.decode`, written out for the
  schema) and ``frame_fastavro`` (fastavro's dictionary made into the same records), on the
  signals processor's frames; ``signal`` and ``signal_fastavro`` likewise for
  :meth:`SignalCodec.decode_signal` on the journey processor's signals.
"""

from __future__ import annotations

import asyncio
import io
import json
import select
import sys
import time
from dataclasses import asdict
from typing import Any

import fastavro

from journeygate.bench.journey_input import signal_records
from journeygate.bench.kafkaio import frame_records
from journeygate.bench.payloads import Fleet, frame
from journeygate.bench.stats import Probe, Run, active_run
from kernel.kafka import make_consumer, make_producer
from kernel.settings import load_settings
from processors.store.logic import COLUMNS, PG_TYPES, frame_rows
from schemas.codec import FrameCodec, load_avro_schema
from schemas.signals import SignalCodec

PROBES = 50
READS_PER_WAKEUP = 256


def _probe(done: int) -> Probe:
    return Probe(time.monotonic(), done, time.process_time())


def paho(args: dict[str, Any]) -> Run:
    """Drain the session's queue with paho driven by ``select`` (no network thread), reading up
    to :data:`READS_PER_WAKEUP` packets per wakeup: the fastest plain way to use the client."""
    from paho.mqtt.client import Client, MQTTMessage, MQTTv311
    from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

    count: int = args["count"]
    every = max(1, count // PROBES)
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=args["client_id"],
        protocol=MQTTv311,
        clean_session=False,
    )
    if args.get("username"):
        client.username_pw_set(args["username"], args.get("password"))
    probes: list[Probe] = []
    got = 0

    def on_message(_c: Client, _u: Any, _m: MQTTMessage) -> None:
        nonlocal got
        got += 1
        if got % every == 0 or got == count:
            probes.append(_probe(got))

    client.on_message = on_message
    client.connect(args["host"], args["port"], 60)
    sock = client.socket()
    assert sock is not None
    deadline = time.monotonic() + args.get("timeout_s", 300)
    while got < count and time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [sock] if client.want_write() else [], [], 0.5)
        if readable:
            for _ in range(READS_PER_WAKEUP):
                before = got
                if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS or got == before:
                    break
        if client.want_write():
            client.loop_write()
    client.disconnect()
    return active_run(probes, count)


async def _passthrough(args: dict[str, Any], batched: bool) -> Run:
    settings = load_settings()
    count: int = args["count"]
    consumer = make_consumer(settings, args["group"], [args["source"]])
    producer = make_producer(settings)
    await consumer.start()
    await producer.start()
    sink: str | None = args.get("sink")
    probes: list[Probe] = []
    done = 0
    try:
        while done < count:
            got = await consumer.getmany(timeout_ms=200, max_records=settings.batch_max_records)
            if not got:
                continue
            futures = []
            for tp, records in got.items():
                if sink is not None:
                    futures += await _forward(producer, sink, tp.partition, records, batched)
                done += len(records)
            await asyncio.gather(*futures)
            await consumer.commit()
            probes.append(_probe(done))
    finally:
        await consumer.stop()
        await producer.stop()
    return active_run(probes, count)


async def _forward(
    producer: Any, topic: str, partition: int, records: Any, batched: bool
) -> list[Any]:
    if not batched:
        return [
            await producer.send(topic, rec.value, key=rec.key, headers=list(rec.headers))
            for rec in records
        ]
    futures = []
    batch = producer.create_batch()
    for rec in records:
        headers = list(rec.headers)
        if batch.append(key=rec.key, value=rec.value, timestamp=None, headers=headers) is None:
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=rec.key, value=rec.value, timestamp=None, headers=headers)
    if batch.record_count():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


def copy(args: dict[str, Any]) -> Run:
    import psycopg
    from psycopg import sql

    fleet = Fleet(args["fleet_size"], args["fleet_tag"])
    count: int = args["count"]
    batch_rows: int = args["batch_rows"]
    now_ms = int(time.time() * 1000)
    rows = [r for n in range(count) for r in frame_rows(frame(fleet, n, now_ms, now_ms, "bench"))]
    statement = sql.SQL("COPY telemetry ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    )
    with psycopg.connect(args["database_url"], autocommit=True) as conn:
        wall, cpu = time.monotonic(), time.process_time()
        for start in range(0, len(rows), batch_rows):
            with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as cp:
                cp.set_types(list(PG_TYPES))
                for row in rows[start : start + batch_rows]:
                    cp.write_row(row)
        return Run(len(rows), time.monotonic() - wall, time.process_time() - cpu)


def avro(args: dict[str, Any]) -> Run:
    fleet = Fleet(args["fleet_size"], args["fleet_tag"])
    codec = FrameCodec()
    now_ms = int(time.time() * 1000)
    data = [codec.encode(frame(fleet, n, now_ms, now_ms, "bench")) for n in range(args["count"])]
    schema = load_avro_schema("telemetry_frame")
    reader = fastavro.schemaless_reader
    wall, cpu = time.monotonic(), time.process_time()
    for value in data:
        reader(io.BytesIO(value), schema, None)
    return Run(len(data), time.monotonic() - wall, time.process_time() - cpu)


REPORT_PERIOD_MS = 300_000  # as the signals processor's benchmark input


def decode(args: dict[str, Any]) -> Run:
    """One of the stages' decoders on the records the stage reads in the benchmark."""
    fleet = Fleet(args["fleet_size"], args["fleet_tag"])
    count: int = args["count"]
    name: str = args["decoder"]
    if name.startswith("frame"):
        frames = FrameCodec()
        data = [v for _, v, _ in frame_records(fleet, count, period_ms=REPORT_PERIOD_MS)]
        readers = {
            "frame": frames.decode,
            "frame_readings": frames.decode_readings,
            "frame_fastavro": frames.decode_fastavro,
        }
        read: Any = readers[name]
    else:
        signals = SignalCodec()
        data = [v for _, v, _ in signal_records(fleet, count)]
        read = signals.decode_signal if name == "signal" else signals.decode_signal_fastavro
    wall, cpu = time.monotonic(), time.process_time()
    for value in data:
        read(value)
    return Run(len(data), time.monotonic() - wall, time.process_time() - cpu)


def main(argv: list[str]) -> int:
    name, args = argv[1], json.loads(argv[2])
    if name == "paho":
        run = paho(args)
    elif name in ("passthrough", "passthrough_batch", "consume"):
        run = asyncio.run(_passthrough(args, batched=name == "passthrough_batch"))
    elif name == "copy":
        run = copy(args)
    elif name == "avro":
        run = avro(args)
    elif name == "decode":
        run = decode(args)
    else:
        raise SystemExit(f"unknown ceiling {name!r}")
    print(json.dumps(asdict(run)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

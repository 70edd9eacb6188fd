"""``journeygate services import`` against real Kafka: accepted visits published, rejects named."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from aiokafka import TopicPartition
from typer.testing import CliRunner

from journeygate.embedded.procs import free_port
from journeygate.services_cli import register
from kernel.kafka import VEHICLE_SERVICES, make_consumer, start_client
from kernel.settings import Settings
from schemas.services import ServiceVisitCodec, ServiceVisitRecord
from schemas.services_file import parse_services

pytestmark = pytest.mark.integration

CSV = """visit_id,vin,visit_ts,odometer_km,dealer_id,currency,items
INV-1001,1HGCM82633A004352,2026-02-14T09:30:00Z,23456.7,DLR-001,USD,scheduled::260;wear:brake_pads_front:212.50
INV-1002,1HGCM82633A00435,2026-02-15T09:30:00Z,100,DLR-001,USD,scheduled::260
INV-1003,KNDC3DLC5N5012345,2026-02-16T10:00:00+01:00,8000,DLR-009,EUR,repair:P0420:1100;other::35:bulb
INV-1004,KNDC3DLC5N5012345,2026-02-17T10:00:00Z,8100,DLR-009,EUR,repair:P04X0:90
"""
JSONL = [
    {
        "visit_id": "INV-2001",
        "vin": "1HGCM82633A004352",
        "visit_ts": "2026-02-20T08:00:00Z",
        "odometer_km": 24000,
        "dealer_id": "DLR-001",
        "currency": "USD",
        "items": [{"kind": "scheduled", "amount": 255.0}, {"kind": "other", "amount": 40}],
    }
]


def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    application.command("noop")(lambda: None)
    return application


def run(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(
        app(),
        [
            "services",
            "import",
            *args,
            "--kafka-bootstrap",
            settings.kafka_bootstrap,
            "--topic-prefix",
            settings.topic_prefix,
        ],
        # The embedded Kafka-protocol broker has no idempotent producers.
        env={"JOURNEYGATE_KAFKA_IDEMPOTENCE": "true" if settings.kafka_idempotence else "false"},
    )


def read_visits(settings: Settings, expected: int, timeout_s: float = 20.0) -> list[Any]:
    async def read() -> list[Any]:
        topic = settings.topic(VEHICLE_SERVICES)
        consumer = make_consumer(settings, group_id=f"test-import-{uuid.uuid4().hex[:8]}")
        await start_client(consumer, settings)
        try:
            await consumer.topics()
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            records: list[Any] = []
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                batch = await consumer.getmany(*tps, timeout_ms=300)
                for part in batch.values():
                    records.extend(part)
                if len(records) >= expected and not batch:
                    break
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_import_publishes_accepted_visits_and_names_rejected_lines(
    settings: Settings, tmp_path: Path
) -> None:
    csv_file = tmp_path / "visits.csv"
    csv_file.write_text(CSV)
    out = run(settings, str(csv_file))
    assert out.exit_code == 1, out.output
    assert f"{csv_file}:3: rejected: vin" in out.stderr
    assert f"{csv_file}:5: rejected: item 1: a repair names its DTC" in out.stderr
    assert "Traceback" not in out.output
    topic = settings.topic(VEHICLE_SERVICES)
    assert f"2 visits published to {topic}, 2 rows rejected" in out.stdout, out.output

    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in JSONL))
    ok = run(settings, str(jsonl))
    assert ok.exit_code == 0, ok.output
    assert "1 visits published" in ok.stdout

    expected = [
        v
        for text, json_lines in ((CSV, False), (jsonl.read_text(), True))
        for v in parse_services(text, json_lines=json_lines)
        if isinstance(v, ServiceVisitRecord)
    ]
    records = read_visits(settings, len(expected))
    codec = ServiceVisitCodec()
    got = {codec.decode(r.value).visit_id: (r.key, codec.decode(r.value)) for r in records}
    assert len(records) == 3
    assert got == {v.visit_id: (v.vin.encode(), v) for v in expected}
    assert got["INV-1003"][1].currency == "EUR"
    assert got["INV-1003"][1].visit_ts.isoformat() == "2026-02-16T09:00:00+00:00"


def test_import_errors_are_one_line(settings: Settings, tmp_path: Path) -> None:
    missing = run(settings, str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "cannot read" in missing.output
    assert missing.output.strip().count("\n") == 0
    bad_format = run(settings, str(tmp_path / "nope.csv"), "--format", "xml")
    assert bad_format.exit_code == 2 and "use csv or jsonl" in bad_format.output
    good = tmp_path / "one.csv"
    good.write_text(CSV.splitlines()[0] + "\n" + CSV.splitlines()[1] + "\n")
    down = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    gone = run(down, str(good))
    assert gone.exit_code == 1
    assert gone.output.strip().count("\n") == 0 and "cannot reach Kafka" in gone.output

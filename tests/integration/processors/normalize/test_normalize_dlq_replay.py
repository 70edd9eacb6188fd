"""``journeygate dlq`` with the real normalizer: a message of a vehicle registered too late is
dead-lettered, listed, replayed once the vehicle is registered, stored once however often the
replay is run; what cannot be replayed is said so."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import typer
from normalize_kit import (
    bridge_headers,
    eventually,
    produce_raw,
    read_all,
    register,
    running_normalizer,
)
from typer.testing import CliRunner

from journeygate.dlq_cli import register as register_dlq
from kernel import headers as h
from kernel.kafka import Topics, dlq_headers, header, make_producer, start_client
from kernel.settings import Settings
from schemas.codec import FrameCodec

pytestmark = pytest.mark.integration

LATE = "WVWZZZ1KZAW123456"  # registered after its first message
KNOWN = "1M8GDM9AXKP042788"


def payload(vin: str, seq: int) -> bytes:
    body = {"v": 1, "vin": vin, "boot_id": "b", "seq": seq, "sample": {"ts_ms": 1_700_000_000_000}}
    return json.dumps(body).encode()


def cli(settings: Settings, *args: str) -> Any:
    app = typer.Typer()
    register_dlq(app)
    app.command("noop")(lambda: None)
    flags = ["--kafka-bootstrap", settings.kafka_bootstrap, "--topic-prefix", settings.topic_prefix]
    return CliRunner().invoke(
        app,
        ["dlq", *args, *flags],
        env={"JOURNEYGATE_KAFKA_IDEMPOTENCE": "false"},
    )


async def bridge_dead_letter(settings: Settings) -> None:
    """A dead letter of the bridge (an oversize payload, cut): not replayable from Kafka."""
    producer = make_producer(settings)
    await start_client(producer, settings)
    try:
        headers = dlq_headers(
            stage="bridge",
            reason="oversize",
            detail="payload exceeds 16 bytes",
            source_topic=f"vehicles/{KNOWN}/telemetry",
            source_partition=-1,
            source_offset=-1,
        )
        headers.append((h.HEADER_DLQ_ORIGINAL_BYTES, b"40"))
        sent = await producer.send(
            Topics.from_settings(settings).dlq, value=b"x" * 16, key=KNOWN.encode(), headers=headers
        )
        await sent
    finally:
        await producer.stop()


def test_a_late_vehicles_message_is_replayed_after_registration_and_stored_once(
    make_settings: Any,
) -> None:
    settings = make_settings(registry_refresh_min_s=0.0)
    register(settings, KNOWN)
    topics = Topics.from_settings(settings)

    async def frames_of(vin: str) -> list[Any]:
        frames = [FrameCodec().decode(r.value) for r in await read_all(settings, topics.frames)]
        return [f for f in frames if f.vin == vin]

    async def scenario() -> None:
        async with running_normalizer(settings) as task:
            await produce_raw(
                settings,
                [
                    (LATE.encode(), payload(LATE, 1), bridge_headers(LATE)),
                    (KNOWN.encode(), payload(KNOWN, 1), bridge_headers(KNOWN)),
                ],
            )
            await bridge_dead_letter(settings)
            await eventually(lambda: frames_of(KNOWN), "the known vehicle's frame", task)

            async def letters() -> list[Any]:
                return await read_all(settings, topics.dlq)

            await eventually(letters, "the late vehicle's dead letter", task)
            listed = await asyncio.to_thread(cli, settings, "list", "--json", "--records", "5")
            assert listed.exit_code == 0, listed.output
            doc = json.loads(listed.stdout)
            counts = {(c["stage"], c["reason"]): c["count"] for c in doc["counts"]}
            assert counts == {("normalize", "unknown_vin"): 1, ("bridge", "oversize"): 1}
            late = next(r for r in doc["records"] if r["reason"] == "unknown_vin")
            shown = await asyncio.to_thread(cli, settings, "show", late["position"], "--json")
            assert shown.exit_code == 0, shown.output
            assert json.loads(shown.stdout)["value"] == payload(LATE, 1).decode()

            dry = await asyncio.to_thread(cli, settings, "replay", "--stage", "bridge")
            assert dry.exit_code == 0, dry.output
            assert "its value was cut to the size limit" in dry.stdout
            assert "0 replayed, 1 skipped" in dry.stdout

            register(settings, LATE)
            dry = await asyncio.to_thread(
                cli, settings, "replay", "--reason", "unknown_vin", "--dry-run"
            )
            assert "1 to replay" in dry.stdout, dry.output
            assert await frames_of(LATE) == []
            for attempt in range(2):
                out = await asyncio.to_thread(cli, settings, "replay", "--reason", "unknown_vin")
                assert out.exit_code == 0, out.output
                done = ("1 replayed", "0 replayed")[attempt]
                assert f"{done}, 0 skipped, {attempt} replayed before" in out.stdout, out.output
            stored = await eventually(lambda: frames_of(LATE), "the replayed frame", task)
            assert [(f.vin, f.seq) for f in stored] == [(LATE, 1)]

            raw = [r for r in await read_all(settings, topics.raw) if r.key == LATE.encode()]
            assert len(raw) == 2  # the original and one replay
            origin = header(list(raw[1].headers), h.HEADER_REPLAYED_FROM)
            assert origin == f"{topics.dlq}:{late['position']}".encode()
            assert header(list(raw[1].headers), h.HEADER_BRIDGE_ID) == b"bridge-test"
            after = json.loads((await asyncio.to_thread(cli, settings, "list", "--json")).stdout)
            replayed = {(c["stage"], c["reason"]): c["replayed"] for c in after["counts"]}
            assert replayed == {("normalize", "unknown_vin"): 1, ("bridge", "oversize"): 0}

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--reason", "nope"], "--reason 'nope': not a reason code"),
        (["list", "--stage", "nope"], "--stage 'nope': choose from"),
        (["show", "x"], "give PARTITION:OFFSET"),
        (["show", "0:999"], "no dead letter at 0:999"),
        (["replay"], "choose what to replay with --reason and/or --stage"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    settings: Settings, args: list[str], message: str
) -> None:
    out = cli(settings, *args)
    assert out.exit_code == 2, out.output
    assert message in out.stderr
    assert "Traceback" not in out.output

"""The MQTT broker SIGKILLed mid-stream, without persistence: what end-to-end acknowledgement
brings back, and what a device that ignores it loses (and where that loss shows).

A QoS 1 fleet publishes at 1,000 messages/s through a private Mosquitto (no persistence) to the
bridge, the normalizer and the store writer, each its own process. At 40 % of the run the bridge
is paused for a second (SIGSTOP, as a bridge behind under load: the broker queues for it),
the broker is SIGKILLed, the bridge resumed, and a second later the broker starts again on the
same port, empty. Every message it had acknowledged (PUBACK) but not passed on is gone from the
broker; only the device still has it, if it kept it. And the kill -9 test of the acknowledgement
relay: the bridge SIGKILLed, relay and all, mid-stream.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from pipeline_kit import stage_env, wait_for_verdict

from journeygate.demo import wait_for_bridge
from journeygate.embedded.mqtt import EmbeddedMqtt
from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings
from simulator.runner import SimulationParams, SimulationResult, run_simulation
from simulator.scenario.files import Scenario
from simulator.truth.verdict import read_truth
from simulator.truth.verify import collect_verdict

pytestmark = pytest.mark.e2e

STAGES = ("bridge", "normalize", "store")
KILL_AT = 0.4
BRIDGE_PAUSE_S = 1.0
BROKER_DOWN_S = 1.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedMqtt]:
    mqtt = EmbeddedMqtt(tmp_path / "mqtt", prefer="mosquitto")
    mqtt.start()
    assert mqtt.kind == "mosquitto", "the crash is measured on Mosquitto"
    yield mqtt
    mqtt.stop()


def crash_the_broker(pipeline: PipelineProcesses, broker: EmbeddedMqtt) -> None:
    """The bridge paused a second (the broker queues for it), the broker SIGKILLed, the bridge
    resumed, and a second later the broker started again on the same port, empty."""
    bridge = pipeline.children["bridge"].pid
    os.kill(bridge, signal.SIGSTOP)
    try:
        time.sleep(BRIDGE_PAUSE_S)
        assert broker.child is not None
        broker.child.kill()
    finally:
        os.kill(bridge, signal.SIGCONT)
    time.sleep(BROKER_DOWN_S)
    broker.start()


def crash_mid_stream(
    make_settings: Callable[..., Settings],
    broker: EmbeddedMqtt,
    tmp_path: Path,
    acks: str,
    scenario: Scenario | None = None,
    fault: Callable[[PipelineProcesses, EmbeddedMqtt], None] = crash_the_broker,
) -> tuple[Settings, PipelineProcesses, SimulationResult, Path]:
    settings = make_settings(mqtt_url=broker.url)
    pipeline = PipelineProcesses(stage_env(settings), tmp_path / "logs")
    for stage in STAGES:
        pipeline.start(stage)
    wait_for_bridge(pipeline)
    truth = tmp_path / "truth.jsonl"
    params = SimulationParams(
        scenario=scenario or Scenario(),
        vehicles=50,
        days=30,
        seed=7,
        malformed_rate=0.0,  # malformed messages are not the devices' own: none is kept
        services=False,
        truth_path=truth,
        rate_per_s=1000.0,
        acks=acks,
        resend_after_s=3.0,
    )
    progress = {"published": 0, "planned": 0}
    outcome: dict[str, SimulationResult | BaseException] = {}

    def simulate() -> None:
        def note(published: int, planned: int) -> None:
            progress.update(published=published, planned=planned)

        try:
            outcome["result"] = run_simulation(settings, params, progress=note)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=simulate, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not progress["planned"] or progress["published"] < KILL_AT * progress["planned"]:
        assert thread.is_alive() and time.monotonic() < deadline, outcome
        time.sleep(0.01)
    fault(pipeline, broker)
    thread.join(120)
    result = outcome.get("result")
    assert isinstance(result, SimulationResult), outcome
    assert not result.interrupted
    return settings, pipeline, result, truth


def test_with_acknowledgement_honoured_a_broker_crash_loses_nothing(
    make_settings: Callable[..., Settings], broker: EmbeddedMqtt, tmp_path: Path
) -> None:
    # (with clocks far ahead: those messages are dead-lettered, and acknowledged as handled)
    settings, pipeline, result, truth = crash_mid_stream(make_settings, broker, tmp_path, "honour")
    try:
        verdict = wait_for_verdict(settings, truth, pipeline, timeout_s=60)
        gaps = pipeline.scrape("store")
    finally:
        pipeline.stop_all()
    assert verdict.passed, verdict.as_dict()
    assert verdict.missing_samples == 0 and verdict.doubled_samples == 0
    assert verdict.stored_once == result.valid_samples
    assert verdict.malformed_dead_lettered == verdict.malformed_expected > 0
    downlink = result.downlink
    assert downlink is not None
    assert downlink.unconfirmed == 0 and downlink.dropped == 0
    assert downlink.resent > 0  # what the crash lost was sent again...
    assert gaps["journeygate_store_seq_gaps_filled_total"] > 0  # ...and filled the gaps
    assert (
        gaps["journeygate_store_seq_gaps_total"] == gaps["journeygate_store_seq_gaps_filled_total"]
    )
    assert missing_by_vehicle(settings) == {}


def test_a_device_that_ignores_its_acknowledgements_loses_messages_and_the_gaps_show(
    make_settings: Callable[..., Settings], broker: EmbeddedMqtt, tmp_path: Path
) -> None:
    # Without clocks far ahead, every message of a device is stored or lost: the accounting of
    # what is missing is exact (their dead letters count as handled, see the test above).
    exact = Scenario.model_validate({"faults": {"clock_skew": {"far_ahead_share": 0.0}}})
    settings, pipeline, result, truth = crash_mid_stream(
        make_settings, broker, tmp_path, "ignore", exact
    )
    try:
        lost = settle_lost(settings, truth, pipeline)
        store = pipeline.scrape("store")
    finally:
        pipeline.stop_all()
    assert result.downlink is None
    verdict = collect_verdict(settings, truth)
    assert not verdict.passed and verdict.missing_samples > 0 and verdict.doubled_samples == 0
    # A lost message with a later message of its boot stored is a gap, counted per vehicle in
    # telemetry_acks (docs/operations.md, "Detecting loss"); a lost last message is not.
    highest: dict[tuple[str, str], int] = {}
    for vin, boot, seq in stored_keys(settings):
        highest[(vin, boot)] = max(seq, highest.get((vin, boot), -1))
    interior = Counter(vin for vin, boot, seq in lost if seq < highest.get((vin, boot), -1))
    assert interior and missing_by_vehicle(settings) == dict(interior)
    open_gaps = (
        store["journeygate_store_seq_gaps_total"] - store["journeygate_store_seq_gaps_filled_total"]
    )
    assert open_gaps == sum(interior.values())


def kill_the_bridge(pipeline: PipelineProcesses, broker: EmbeddedMqtt) -> None:
    """SIGKILL the bridge, its acknowledgement relay with it, and start it again."""
    pipeline.kill("bridge")
    time.sleep(1.0)
    pipeline.start("bridge")
    wait_for_bridge(pipeline)


def test_the_bridge_and_its_acknowledgement_relay_killed_mid_stream_lose_nothing(
    make_settings: Callable[..., Settings], broker: EmbeddedMqtt, tmp_path: Path
) -> None:
    """The relay is a task of the bridge: SIGKILLed with it, unpublished acknowledgements wait
    in Kafka (its offsets are committed only after the broker's PUBACKs) and devices that miss
    one send again: every message is confirmed in the end, nothing lost or doubled."""
    settings, pipeline, result, truth = crash_mid_stream(
        make_settings, broker, tmp_path, "honour", fault=kill_the_bridge
    )
    try:
        verdict = wait_for_verdict(settings, truth, pipeline, timeout_s=60)
        relay = pipeline.scrape("bridge")
    finally:
        pipeline.stop_all()
    assert verdict.passed, verdict.as_dict()
    assert verdict.missing_samples == 0 and verdict.doubled_samples == 0
    downlink = result.downlink
    assert downlink is not None and downlink.unconfirmed == 0 and downlink.dropped == 0
    assert relay["journeygate_bridge_acks_published_total"] > 0  # the restarted relay's


def settle_lost(
    settings: Settings, truth: Path, pipeline: PipelineProcesses
) -> set[tuple[str, str, int]]:
    """The valid messages never stored, once the store stopped changing for 3 s."""
    sent = {
        (m["vin"], m["boot_id"], m["seq"])
        for m in read_truth(truth)
        if m["type"] == "message" and m["kind"] == "valid"
    }
    deadline = time.monotonic() + 60
    last, since = -1, time.monotonic()
    while True:
        pipeline.check_alive()
        stored = stored_keys(settings)
        if len(stored) != last:
            last, since = len(stored), time.monotonic()
        elif time.monotonic() - since > 3.0:
            return sent - stored
        assert time.monotonic() < deadline, "the store kept changing"
        time.sleep(0.3)


def stored_keys(settings: Settings) -> set[tuple[str, str, int]]:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT DISTINCT vin, boot_id, seq FROM telemetry").fetchall()
    return {(str(v), str(b), int(s)) for v, b, s in rows}


def missing_by_vehicle(settings: Settings) -> dict[str, int]:
    """The documented query (docs/operations.md, "Detecting loss")."""
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT vin, sum(missing_seqs) FROM telemetry_acks"
            " GROUP BY vin HAVING sum(missing_seqs) > 0"
        ).fetchall()
    return {str(v): int(n) for v, n in rows}

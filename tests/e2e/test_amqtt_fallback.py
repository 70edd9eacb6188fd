"""The fallback MQTT broker: on a machine without Mosquitto the embedded stack runs amqtt, and
the pipeline must deliver through it too (MQTT 3.1.1, persistent session of a named client)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pipeline_kit import start_pipeline, wait_for_verdict

from journeygate.embedded.mqtt import EmbeddedMqtt
from kernel.settings import Settings
from simulator.runner import SimulationParams, run_simulation

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def amqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = EmbeddedMqtt(tmp_path_factory.mktemp("amqtt"), prefer="amqtt")
    broker.start()
    assert broker.kind == "amqtt"
    yield broker.url
    broker.stop()


def test_pipeline_through_amqtt(
    amqtt_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(mqtt_url=amqtt_url)
    pipeline = start_pipeline(settings, tmp_path / "logs")
    try:
        truth = tmp_path / "truth.jsonl"
        params = SimulationParams(
            vehicles=10, days=5, seed=3, duplicate_rate=0.05, malformed_rate=0.05, truth_path=truth
        )
        result = run_simulation(settings, params)
        verdict = wait_for_verdict(settings, truth, pipeline)
    finally:
        pipeline.stop_all()
    assert verdict.passed, verdict.as_dict()
    assert verdict.stored_once == result.valid_samples > 0
    assert verdict.malformed_dead_lettered == verdict.malformed_expected > 0


def test_bridge_session_survives_a_clean_restart_on_amqtt(
    amqtt_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Messages published while the bridge is stopped are queued for its session and arrive."""
    settings = make_settings(mqtt_url=amqtt_url)
    pipeline = start_pipeline(settings, tmp_path / "logs")
    try:
        pipeline.children["bridge"].stop()
        truth = tmp_path / "truth.jsonl"
        # devices that waited for acknowledgements would wait for the bridge started after them
        params = SimulationParams(
            vehicles=5,
            days=3,
            seed=4,
            duplicate_rate=0.0,
            malformed_rate=0.0,
            truth_path=truth,
            acks="ignore",
        )
        result = run_simulation(settings, params)
        pipeline.start("bridge")
        verdict = wait_for_verdict(settings, truth, pipeline)
    finally:
        pipeline.stop_all()
    assert verdict.passed, verdict.as_dict()
    assert verdict.stored_once == result.valid_samples > 0

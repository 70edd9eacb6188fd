"""Helpers for end-to-end tests: stage processes for a test's settings, and the verdict."""

from __future__ import annotations

import time
from pathlib import Path

from journeygate.embedded.pipeline import PipelineProcesses
from kernel.settings import Settings
from simulator.truth.verdict import Verdict
from simulator.truth.verify import collect_verdict


def stage_env(settings: Settings) -> dict[str, str]:
    """Environment that points stage processes at exactly this test's servers and names."""
    return {
        "JOURNEYGATE_MQTT_URL": settings.mqtt_url,
        "JOURNEYGATE_MQTT_TOPIC_ROOT": settings.mqtt_topic_root,
        "JOURNEYGATE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "JOURNEYGATE_KAFKA_IDEMPOTENCE": "true" if settings.kafka_idempotence else "false",
        "JOURNEYGATE_KAFKA_PARTITIONS": str(settings.kafka_partitions),
        "JOURNEYGATE_TOPIC_PREFIX": settings.topic_prefix,
        "JOURNEYGATE_DATABASE_URL": settings.database_url,
        "JOURNEYGATE_BRIDGE_ID": settings.bridge_id,
        "JOURNEYGATE_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
        "JOURNEYGATE_KAFKA_HEARTBEAT_INTERVAL_MS": str(settings.kafka_heartbeat_interval_ms),
    }


def start_pipeline(
    settings: Settings, log_dir: Path, extra_env: dict[str, str] | None = None
) -> PipelineProcesses:
    """Every stage as a process; ``extra_env`` adds settings for the stages only."""
    from journeygate.demo import wait_for_bridge

    pipeline = PipelineProcesses({**stage_env(settings), **(extra_env or {})}, log_dir)
    pipeline.start_all()
    wait_for_bridge(pipeline)
    return pipeline


def wait_for_verdict(
    settings: Settings, truth_path: Path, pipeline: PipelineProcesses, timeout_s: float = 120.0
) -> Verdict:
    """Poll until the pipeline has caught up with the truth (or time runs out): the last verdict."""
    deadline = time.monotonic() + timeout_s
    verdict = collect_verdict(settings, truth_path)
    while not verdict.passed and time.monotonic() < deadline:
        pipeline.check_alive()
        time.sleep(0.5)
        verdict = collect_verdict(settings, truth_path)
    return verdict

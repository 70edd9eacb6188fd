"""A whole benchmark run: servers, ceilings and stages (interleaved, N times), pipeline, scale,
the dealer API and webhook sender."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import processors
from journeygate.bench import pipeline, stages
from journeygate.bench.api import run_api
from journeygate.bench.lab import Lab
from journeygate.bench.options import Sizes
from journeygate.bench.payloads import Fleet, message
from journeygate.bench.procstat import memory_bytes
from journeygate.bench.results import (
    BenchResults,
    Machine,
    PipelineResult,
    StageResult,
    Target,
    latency_target,
    scale_targets,
    stage_targets,
)
from journeygate.bench.scale import run_scale
from journeygate.bench.stats import Figure, Run, combined, figure
from journeygate.embedded.stack import StackEndpoints, embedded_stack
from kernel.native import compiled_modules

ROOT = Path(processors.__file__).parent.parent
"""Where the project's packages are (the checkout, or site-packages once installed)."""

Say = Callable[[str], None]
PARTS = ("stages", "pipeline", "scale", "api")


@dataclass(frozen=True, slots=True)
class Measure:
    """One measurement of the interleaved rounds: a name, what it counts, and how."""

    name: str
    unit: str
    rep: stages.Rep
    size: Callable[[Sizes], int]


MEASURES = (
    Measure("paho QoS 1 subscriber", "msg", stages.paho_ceiling, lambda s: s.mqtt_messages),
    Measure("bridge", "msg", stages.bridge_alone, lambda s: s.mqtt_messages),
    Measure("aiokafka passthrough", "msg", stages.passthrough_ceiling, lambda s: s.kafka_messages),
    Measure(
        "aiokafka passthrough, send_batch",
        "msg",
        stages.passthrough_batch_ceiling,
        lambda s: s.kafka_messages,
    ),
    Measure("aiokafka consume", "msg", stages.consume_ceiling, lambda s: s.kafka_messages),
    Measure("normalizer", "msg", stages.normalizer_alone, lambda s: s.kafka_messages),
    Measure("signals processor", "frame", stages.signals_alone, lambda s: s.signals_frames),
    Measure(
        "signals processor, first frame of a vehicle",
        "frame",
        stages.signals_new_vehicles,
        lambda s: s.fleet,
    ),
    Measure("journey processor", "signal", stages.journey_alone, lambda s: s.kafka_messages),
    Measure("fastavro decode", "row", stages.avro_ceiling, lambda s: s.store_messages),
    Measure("frame decoder", "frame", stages.decoder("frame"), lambda s: s.kafka_messages),
    Measure(
        "frame readings decoder",
        "frame",
        stages.decoder("frame_readings"),
        lambda s: s.kafka_messages,
    ),
    Measure(
        "frame decode by fastavro",
        "frame",
        stages.decoder("frame_fastavro"),
        lambda s: s.kafka_messages,
    ),
    Measure("signal decoder", "signal", stages.decoder("signal"), lambda s: s.kafka_messages),
    Measure(
        "signal decode by fastavro",
        "signal",
        stages.decoder("signal_fastavro"),
        lambda s: s.kafka_messages,
    ),
    Measure("binary COPY", "row", stages.copy_ceiling, lambda s: s.store_messages),
    Measure("store writer", "row", stages.store_alone, lambda s: s.store_messages),
    Measure(
        f"store writer, {stages.BURST_SAMPLES} samples per frame",
        "row",
        stages.store_bursts,
        lambda s: s.store_messages,
    ),
)


@dataclass(frozen=True, slots=True)
class Servers:
    """External servers to use instead of starting the embedded ones (all three or none)."""

    mqtt_url: str
    kafka_bootstrap: str
    database_url: str


@contextlib.contextmanager
def _servers(root: Path, external: Servers | None) -> Iterator[StackEndpoints]:
    if external is not None:
        yield StackEndpoints(
            mqtt_url=external.mqtt_url,
            mqtt_kind="external",
            kafka_bootstrap=external.kafka_bootstrap,
            database_url=external.database_url,
            root=root,
        )
        return
    with embedded_stack(root / "servers", mqtt="auto") as endpoints:
        yield endpoints


def machine(load_start: float) -> Machine:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return Machine(
        cpus=os.cpu_count() or 1,
        cpu_model=model,
        memory_gib=memory_bytes() / 2**30,
        python=platform.python_version(),
        load_1m_start=load_start,
        load_1m_end=os.getloadavg()[0],
        compiled=tuple(compiled_modules(ROOT)),
    )


def run_bench(
    sizes: Sizes,
    *,
    quick: bool,
    parts: tuple[str, ...] = PARTS,
    data_dir: Path | None = None,
    external: Servers | None = None,
    bridges: int = 1,
    normalizers: int = 1,
    say: Say = lambda _: None,
) -> BenchResults:
    """Run the measurements named in ``parts`` and judge them against the targets."""
    started, load_start = time.monotonic(), os.getloadavg()[0]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with contextlib.ExitStack() as stack:
        root = data_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="jg-bench-"))
        )
        root.mkdir(parents=True, exist_ok=True)
        say("starting the servers")
        endpoints = stack.enter_context(_servers(root, external))
        lab = Lab(endpoints, root, partitions=sizes.partitions)
        stack.callback(lab.close)
        preloads = [
            n
            for part, n in (("stages", sizes.mqtt_messages), ("pipeline", sizes.pipeline_messages))
            if part in parts
        ]
        if external is not None and preloads:
            say("checking that the MQTT broker keeps a preloaded session's messages")
            stages.check_offline_queue(lab, max(preloads))
        figures = _interleaved(lab, sizes, say) if "stages" in parts else {}
        pipe = _pipeline(lab, sizes, say, figures) if "pipeline" in parts else None
        scale = None
        if "scale" in parts:
            say(
                f"scale: {sizes.scale_fleet:,} vehicles at {sizes.scale_rate_per_s:,.0f} msg/s "
                f"for {sizes.scale_duration_s:.0f} s"
            )
            scale = run_scale(lab, sizes, bridges=bridges, normalizers=normalizers)
        api = run_api(lab, sizes, say) if "api" in parts else None
    stage_results = _stage_results(figures, pipe)
    targets: list[Target] = stage_targets(stage_results)
    if pipe is not None and pipe.latency is not None:
        targets.append(latency_target(pipe.latency))
    if scale is not None:
        targets += scale_targets(scale)
    return BenchResults(
        quick=quick,
        started_at=started_at,
        elapsed_s=time.monotonic() - started,
        machine=machine(load_start),
        mqtt_broker=endpoints.mqtt_kind,
        payload_bytes=len(message(Fleet(1), 0, 0)[1]),
        sizes=asdict(sizes),
        ceilings=tuple(f for f in figures.values()),
        stages=stage_results,
        pipeline=pipe,
        scale=scale,
        targets=tuple(targets),
        api=api,
    )


def _interleaved(lab: Lab, sizes: Sizes, say: Say) -> dict[str, Figure]:
    runs: dict[str, list[Run]] = {m.name: [] for m in MEASURES}
    for rep in range(sizes.reps):
        for m in MEASURES:
            say(f"round {rep + 1}/{sizes.reps}: {m.name}")
            runs[m.name].append(m.rep(lab, sizes.fleet, m.size(sizes)))
    return {m.name: figure(m.name, m.unit, runs[m.name]) for m in MEASURES}


def _pipeline(lab: Lab, sizes: Sizes, say: Say, figures: dict[str, Figure]) -> PipelineResult:
    drains = []
    for rep in range(sizes.reps):
        say(f"pipeline {rep + 1}/{sizes.reps}: maximum rate")
        drains.append(pipeline.drain(lab, sizes.fleet, sizes.pipeline_messages))
    max_rate = figure("pipeline", "msg", [d.total for d in drains])
    stage_cpu = {
        name: statistics.median(d.stages[name].cpu_us for d in drains) for name in drains[0].stages
    }
    rate = max_rate.rate_per_s / 2
    say(f"pipeline: latency at {rate:,.0f} msg/s for {sizes.latency_s:g} s")
    lat = pipeline.latency(lab, sizes.fleet, rate, sizes.latency_s)
    # The five-stage pipeline's own maximum (all five sharing the cores), then its latency
    # from telemetry to alert at half of it.
    alert_drains = []
    for rep in range(sizes.reps):
        say(f"pipeline {rep + 1}/{sizes.reps}: maximum rate with signals and journey")
        alert_drains.append(pipeline.drain_to_alerts(lab, sizes.fleet, sizes.pipeline_messages))
    alert_max = figure("pipeline with alerts", "msg", [d.total for d in alert_drains])
    alert_rate = alert_max.rate_per_s / 2
    say(f"pipeline: telemetry to alert at {alert_rate:,.0f} msg/s for {sizes.latency_s:g} s")
    alert = pipeline.alert_latency(lab, sizes.fleet, alert_rate, sizes.latency_s)
    return PipelineResult(max_rate, 1.0, stage_cpu, lat, alert, alert_max)


def _stage_results(
    figures: dict[str, Figure], pipe: PipelineResult | None
) -> tuple[StageResult, ...]:
    if not figures:
        return ()
    cpu = pipe.stage_cpu_us if pipe is not None else {}
    f = figures
    store_parts = combined(
        "consume + fastavro decode + binary COPY",
        "row",
        [f["aiokafka consume"], f["fastavro decode"], f["binary COPY"]],
    )
    return (
        StageResult(
            "bridge",
            "Bridge: MQTT in → Kafka acknowledged → PUBACK",
            f["bridge"],
            f["paho QoS 1 subscriber"],
            (),
            cpu.get("bridge"),
        ),
        StageResult(
            "normalizer",
            "Normalizer: telemetry.raw → telemetry.frames",
            f["normalizer"],
            f["aiokafka passthrough"],
            (f["aiokafka passthrough, send_batch"],),
            cpu.get("normalize"),
        ),
        StageResult(
            "store writer",
            "Store writer: telemetry.frames → telemetry rows",
            f["store writer"],
            f["binary COPY"],
            (f["fastavro decode"], f["aiokafka consume"], store_parts),
            cpu.get("store"),
            (f[f"store writer, {stages.BURST_SAMPLES} samples per frame"],),
        ),
        StageResult(
            "signals processor",
            "Signals processor: telemetry.frames → signal_state, vehicle.signals",
            f["signals processor"],
            f["aiokafka passthrough"],
            (
                f["aiokafka consume"],
                f["frame readings decoder"],
                f["frame decoder"],
                f["frame decode by fastavro"],
            ),
            None,
            (f["signals processor, first frame of a vehicle"],),
        ),
        StageResult(
            "journey processor",
            "Journey processor: vehicle.signals → journey_state, alerts, dealer.alerts",
            f["journey processor"],
            f["aiokafka passthrough"],
            (f["aiokafka consume"], f["signal decoder"], f["signal decode by fastavro"]),
            None,
        ),
    )

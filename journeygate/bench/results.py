"""What a benchmark run found, and which targets it meets. Pure: figures in, verdicts out."""

from __future__ import annotations

import math
from dataclasses import dataclass

from journeygate.bench.api import ApiResult
from journeygate.bench.pipeline import AlertLatency, Latency
from journeygate.bench.scale import ScaleResult, SignalsScale
from journeygate.bench.stats import Figure, ratio

STAGE_RATIO_TARGET = 0.5
P99_TARGET_MS = 1000.0
STATE_TARGET_BYTES = 1024.0
SIGNALS_STATE_TARGET_BYTES = 2048.0
FLAT_MEMORY_PCT = 5.0
SUSTAINED_SHARE = 0.95
DRAIN_TARGET_S = 10.0


@dataclass(frozen=True, slots=True)
class Machine:
    cpus: int
    cpu_model: str
    memory_gib: float
    python: str
    load_1m_start: float
    load_1m_end: float
    compiled: tuple[str, ...] = ()
    """The modules that ran compiled (setup.py: the journey and signals processors' cores, the
    frame codec), by name."""


@dataclass(frozen=True, slots=True)
class StageResult:
    """One stage alone against its ceiling; ``pipeline_cpu_us`` is its cost inside the pipeline."""

    name: str
    title: str
    alone: Figure
    ceiling: Figure
    context: tuple[Figure, ...]
    pipeline_cpu_us: float | None
    variants: tuple[Figure, ...] = ()
    """The stage itself on other input (e.g. several samples per frame), against the ceiling."""

    @property
    def ratio(self) -> float:
        return ratio(self.alone, self.ceiling)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    max_rate: Figure
    samples_per_message: float
    stage_cpu_us: dict[str, float]
    latency: Latency | None
    alert_latency: AlertLatency | None = None
    """Telemetry sample to dealer alert, with the signals and journey processors running."""
    alert_max_rate: Figure | None = None
    """The maximum rate of the pipeline with the signals and journey processors (frames the
    signals processor commits per second); the alert latency is measured at half of it."""


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    wanted: str
    measured: str
    met: bool


@dataclass(frozen=True, slots=True)
class BenchResults:
    quick: bool
    started_at: str
    elapsed_s: float
    machine: Machine
    mqtt_broker: str
    payload_bytes: int
    sizes: dict[str, object]
    ceilings: tuple[Figure, ...]
    stages: tuple[StageResult, ...]
    pipeline: PipelineResult | None
    scale: ScaleResult | None
    targets: tuple[Target, ...]
    api: ApiResult | None = None
    """The dealer API's alert listing and the webhook sender, each against its ceiling."""


def stage_targets(stages: tuple[StageResult, ...]) -> list[Target]:
    return [
        Target(
            f"{s.name} vs {s.ceiling.name} (per CPU-second)",
            f">= {STAGE_RATIO_TARGET:g}",
            f"{s.ratio:.2f}",
            not math.isnan(s.ratio) and s.ratio >= STAGE_RATIO_TARGET,
        )
        for s in stages
    ]


def latency_target(latency: Latency) -> Target:
    return Target(
        f"end-to-end P99 at {latency.offered_per_s:,.0f} msg/s (half the maximum)",
        f"<= {P99_TARGET_MS:,.0f} ms",
        f"{latency.p99_ms:,.0f} ms",
        latency.p99_ms <= P99_TARGET_MS,
    )


def scale_targets(s: ScaleResult) -> list[Target]:
    achieved = s.published / s.feed_elapsed_s if s.feed_elapsed_s > 0 else 0.0
    sustained = achieved >= SUSTAINED_SHARE * s.offered_per_s and s.drain_s <= DRAIN_TARGET_S
    growth = max((p.growth_after_warmup_pct for p in s.processes), default=0.0)
    fleet = f"{s.fleet:,} vehicles"
    return [
        Target(
            f"{fleet}: sustained {s.offered_per_s:,.0f} msg/s",
            f">= {SUSTAINED_SHARE:.0%} of the rate, drained <= {DRAIN_TARGET_S:g} s after",
            f"{achieved:,.0f} msg/s, drained in {s.drain_s:.1f} s",
            sustained,
        ),
        Target(f"{fleet}: lost", "0", f"{s.lost:,}", s.lost == 0),
        Target(f"{fleet}: duplicated", "0", f"{s.duplicated:,}", s.duplicated == 0),
        Target(
            f"{fleet}: memory after warm-up",
            f"flat (<= {FLAT_MEMORY_PCT:g}% growth)",
            f"{growth:+.1f}% (largest)",
            growth <= FLAT_MEMORY_PCT,
        ),
        Target(
            f"{fleet}: processor state per vehicle",
            f"<= {STATE_TARGET_BYTES:,.0f} B",
            f"{s.state_bytes_per_vehicle:,.0f} B",
            s.state_bytes_per_vehicle <= STATE_TARGET_BYTES,
        ),
        *([] if s.signals is None else _signals_targets(fleet, s.signals)),
    ]


def _signals_targets(fleet: str, g: SignalsScale) -> list[Target]:
    return [
        Target(
            f"{fleet}: signals processor lost (frames not committed, vehicles without state)",
            "0",
            f"{g.lost:,}, {g.missing_state:,}",
            g.lost == 0 and g.missing_state == 0,
        ),
        Target(
            f"{fleet}: signals processor doubled (frames consumed twice)",
            "0",
            f"{g.doubled:,}",
            g.doubled == 0,
        ),
        Target(
            f"{fleet}: signals processor state per vehicle",
            f"<= {SIGNALS_STATE_TARGET_BYTES:,.0f} B",
            f"{g.state_bytes_per_vehicle:,.0f} B",
            g.vehicles_with_state > 0 and g.state_bytes_per_vehicle <= SIGNALS_STATE_TARGET_BYTES,
        ),
    ]

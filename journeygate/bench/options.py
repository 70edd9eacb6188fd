"""How big a benchmark run is: the full run and the reduced ``--quick`` one."""

from __future__ import annotations

from dataclasses import dataclass, replace

REPORT_PERIOD_S = 300.0  # each vehicle of the scale fleet reports every 5 minutes


@dataclass(frozen=True, slots=True)
class Sizes:
    """Repetitions and message counts of each measurement."""

    reps: int
    fleet: int
    """Vehicles behind the messages of the ceiling, stage and pipeline runs."""
    mqtt_messages: int
    """Messages drained by the paho ceiling and the bridge."""
    kafka_messages: int
    """Records through the passthrough ceilings and the normalizer."""
    store_messages: int
    """Frames (one sample each) through the COPY and Avro ceilings and the store writer."""
    pipeline_messages: int
    signals_frames: int
    """Frames through the signals processor after its warm-up: 10 a vehicle (a day of event
    time each, so every vehicle is forecast once), the fleet at least a batch (5,000) so that a
    batch holds about one frame per vehicle, as in production."""
    latency_s: float
    """How long the pipeline is fed at half its maximum rate to measure latency."""
    scale_fleet: int
    scale_acceleration: float
    """Simulated seconds per wall second in the scale run (1: real time)."""
    scale_rounds: float
    """How many report periods the scale run lasts (the first one warms up)."""
    partitions: int = 4
    api_alerts: int = 2_000
    """Alerts of the dealer whose first page the API part lists."""
    api_clients: int = 8
    """Concurrent clients of the API part (threads, one keep-alive connection each)."""
    api_duration_s: float = 1.5
    """How long the clients request each server per repetition."""
    webhook_deliveries: int = 500
    """Outbox rows the webhook sender delivers per repetition (and signed POSTs of its
    ceiling)."""

    def __post_init__(self) -> None:
        if self.reps < 1 or self.fleet < 1 or self.scale_fleet < 1:
            raise ValueError("reps and fleets must be at least 1")
        if self.scale_acceleration <= 0 or self.scale_rounds < 1:
            raise ValueError("scale acceleration must be > 0 and rounds >= 1")

    @property
    def scale_rate_per_s(self) -> float:
        """Messages per second the scale fleet sends: fleet / period, accelerated."""
        return self.scale_fleet * self.scale_acceleration / REPORT_PERIOD_S

    @property
    def scale_duration_s(self) -> float:
        return self.scale_rounds * REPORT_PERIOD_S / self.scale_acceleration

    @property
    def scale_messages(self) -> int:
        return round(self.scale_rounds * self.scale_fleet)


FULL = Sizes(
    reps=3,
    fleet=10_000,
    mqtt_messages=60_000,
    kafka_messages=100_000,
    store_messages=100_000,
    pipeline_messages=60_000,
    signals_frames=100_000,
    latency_s=30.0,
    scale_fleet=1_000_000,
    scale_acceleration=1.0,
    scale_rounds=2.0,
    api_alerts=5_000,
    api_duration_s=2.0,
    webhook_deliveries=1_000,
)

QUICK = Sizes(
    reps=1,
    fleet=2_000,
    mqtt_messages=8_000,
    kafka_messages=10_000,
    store_messages=10_000,
    pipeline_messages=10_000,
    signals_frames=50_000,
    latency_s=4.0,
    scale_fleet=4_000,  # the signals processor forecasts each vehicle in full at its first frame
    scale_acceleration=50.0,
    scale_rounds=2.0,
)


def sizes(quick: bool, **overrides: object) -> Sizes:
    """The full or quick sizes with any field overridden (None: keep the default)."""
    base = QUICK if quick else FULL
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **given)  # type: ignore[arg-type]

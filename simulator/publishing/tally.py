"""Running counts of a simulation: live progress and the final result."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from simulator.publishing.downlink import DownlinkCounts
from simulator.publishing.plan import KIND_VALID, Outgoing
from simulator.scenario.kinds import EXPECTATIONS


@dataclass(frozen=True, slots=True)
class SimulationProgress:
    """Live counts for a progress display; ``faults`` counts published messages by fault tag."""

    planned: int
    published: int
    acknowledged: int
    valid: int
    duplicates: int
    malformed: int
    sim_time: datetime
    faults: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    """Publishes the broker refused (MQTT 5 PUBACK reason code 0x80 or above)."""


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What a run did. ``malformed`` counts publishes that must be dead-lettered, by expected
    reason; ``faults`` counts valid publishes by fault tag; ``registered`` counts vehicles that
    were not in the registry yet."""

    vehicles: int
    registered: int
    planned_messages: int
    messages_published: int
    acknowledged: int
    rejected: int
    valid_messages: int
    valid_samples: int
    duplicates: int
    malformed: dict[str, int]
    faults: dict[str, int]
    elapsed_s: float
    interrupted: bool
    truth_path: Path | None
    services_published: int | None = None
    """Dealer visits of the period published to ``vehicle.services`` (None: ``--no-services``)."""
    history_published: int | None = None
    consent_published: int | None = None
    """Consent changes of the period sent to ``vehicle.consent`` (None: services off)."""
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    """``rejected`` by the broker's reason (e.g. ``Not authorized``): sent, never delivered."""
    downlink: DownlinkCounts | None = None
    """What the pipeline's acknowledgements did (None: devices ignore them, ``acks = ignore``).
    ``messages_published`` and ``acknowledged`` count the plan's messages, not resends."""


# progress(published, planned): called every few hundred publishes and at the end.
ProgressCallback = Callable[[int, int], None]
StatusCallback = Callable[[SimulationProgress], None]


class Tally:
    """Counts of what was published, by kind, fault and expected rejection reason."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.samples = 0
        self.reasons: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def add(self, msg: Outgoing) -> None:
        self.kinds[msg.kind] += 1
        if msg.kind == KIND_VALID:
            self.samples += msg.sample_count
            self.faults.update(msg.tags)
        elif msg.fault is not None:
            self.reasons[EXPECTATIONS[msg.fault].reason] += 1
            self.faults[msg.fault] += 1

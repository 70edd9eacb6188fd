"""Pure core of the journey processor: a polled batch in, states, timeline and alerts out.

:func:`decode_batch` turns records of ``vehicle.signals``, ``vehicle.services`` and
``vehicle.consent`` into typed inputs (undecodable ones are rejects for the dead-letter topic);
:func:`process_batch` folds each vehicle's inputs, in event-time order (ties in Kafka order),
into its state with :func:`~processors.journey.machine.step`; inputs of the same instant (the
signals of one evaluation) are folded before an alert is chosen. Nothing here does I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kernel.errors import DataError
from kernel.kafka import SourceRecord
from kernel.offsets import Partition
from processors.journey.machine import (
    Alert,
    AlertChange,
    Input,
    JourneyEvent,
    VisitInput,
    input_ms,
    step,
)
from processors.journey.rules import Rules
from processors.journey.state import VehicleJourney
from schemas.consent import ConsentChange
from schemas.services import ServiceVisitRecord
from schemas.signals import SignalRecord


@dataclass(frozen=True, slots=True)
class Rejected:
    record: SourceRecord
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Decoded:
    inputs: tuple[Input, ...]
    rejected: tuple[Rejected, ...]
    next_offsets: Mapping[Partition, int]
    counts: Counter[str]
    """Inputs decoded, by kind: signals, visits, consent."""

    @property
    def vins(self) -> list[str]:
        return sorted({i.vin for i in self.inputs})


@dataclass(frozen=True, slots=True)
class Decoders:
    signals_topic: str
    services_topic: str
    signal: Callable[[bytes], SignalRecord]
    visit: Callable[[bytes], ServiceVisitRecord]
    consent: Callable[[bytes], ConsentChange]


def _visit(v: ServiceVisitRecord) -> VisitInput:
    return VisitInput(v.visit_id, v.vin, int(v.visit_ts.timestamp() * 1000), v.dealer_id)


def decode_batch(records: Sequence[SourceRecord], d: Decoders) -> Decoded:
    inputs: list[Input] = []
    rejected: list[Rejected] = []
    offsets: dict[Partition, int] = {}
    counts: Counter[str] = Counter()
    for rec in records:
        key = (rec.topic, rec.partition)
        offsets[key] = max(offsets.get(key, 0), rec.offset + 1)
        if rec.value is None:
            rejected.append(Rejected(rec, "undecodable", "record has no value"))
            continue
        try:
            if rec.topic == d.signals_topic:
                inputs.append(d.signal(rec.value))
                counts["signals"] += 1
            elif rec.topic == d.services_topic:
                inputs.append(_visit(d.visit(rec.value)))
                counts["visits"] += 1
            else:
                inputs.append(d.consent(rec.value))
                counts["consent"] += 1
        except DataError as exc:
            rejected.append(Rejected(rec, exc.reason, exc.detail))
    return Decoded(tuple(inputs), tuple(rejected), offsets, counts)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    states: Mapping[str, VehicleJourney]
    events: tuple[JourneyEvent, ...]
    alerts: tuple[Alert, ...]
    changes: tuple[AlertChange, ...]


def process_batch(
    decoded: Decoded, states: Mapping[str, VehicleJourney], rules: Rules
) -> BatchOutcome:
    """Fold every vehicle's inputs into its state (``states`` holds one per VIN of the batch,
    loaded or new; they are mutated and returned)."""
    per_vin: dict[str, list[Input]] = {}
    for item in decoded.inputs:
        per_vin.setdefault(item.vin, []).append(item)
    events: list[JourneyEvent] = []
    alerts: list[Alert] = []
    changes: list[AlertChange] = []
    for vin in sorted(per_vin):
        j = states[vin]
        ordered = sorted(per_vin[vin], key=input_ms)
        for n, item in enumerate(ordered):
            last = n + 1 == len(ordered) or input_ms(ordered[n + 1]) != input_ms(item)
            out = step(j, item, rules, decide=last)
            events += out.events
            alerts += out.alerts
            changes += out.changes
    return BatchOutcome(
        {v: states[v] for v in per_vin}, tuple(events), tuple(alerts), tuple(changes)
    )

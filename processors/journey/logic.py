"""Pure core of the journey processor: a polled batch in, states, timeline and alerts out.

:func:`decode_batch` turns records of ``vehicle.signals``, ``vehicle.services`` and
``vehicle.consent`` into typed inputs (undecodable ones are rejects for the dead-letter topic);
:func:`process_batch` folds each vehicle's inputs, in event-time order (ties:
:func:`~processors.journey.machine.input_rank`, then Kafka order), into its state with
:func:`~processors.journey.machine.step`; the signals of one instant (those of one evaluation)
are folded together, their gates evaluated and an alert chosen once. Between a vehicle's
inputs, and after them up to the batch's event time in the vehicle's partition (its
*watermark*), the vehicle is evaluated at each instant time alone changes its gates
(:mod:`.clock`); vehicles with no input in the batch whose next such instant the watermark
passed are woken the same way.
The contact budget is the owner's (:mod:`.budget`): a vehicle whose owner has other vehicles
is decided with the contacts made to them (:class:`Owners`: those stored, and those of the
owner's other vehicles in the batch, folded before it in VIN order). Nothing here does I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kernel.errors import DataError
from kernel.kafka import SourceRecord
from kernel.offsets import Partition
from processors.journey.clock import next_tick_ms, next_wake_ms, wake_at
from processors.journey.machine import (
    Alert,
    AlertChange,
    Input,
    JourneyEvent,
    StepOutput,
    Tick,
    VisitInput,
    absorb,
    input_ms,
    input_rank,
    step,
)
from processors.journey.rules import Rules
from processors.journey.state import WAKE_UNKNOWN, HeldVisit, VehicleJourney, to_json
from schemas.consent import KIND_CONSENT, ConsentChange
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
    partitions: Mapping[str, int] = field(default_factory=dict)
    """The partition of each VIN's records (the three topics are partitioned alike)."""
    watermarks: Mapping[int, int] = field(default_factory=dict)
    """Per partition, the newest event time of the batch's inputs (epoch ms)."""

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
    signals = visits = consent = 0
    partitions: dict[str, int] = {}
    watermarks: dict[int, int] = {}
    signals_topic, decode_signal = d.signals_topic, d.signal
    for rec in records:
        topic, partition, value = rec.topic, rec.partition, rec.value
        key = (topic, partition)
        if offsets.get(key, 0) <= rec.offset:
            offsets[key] = rec.offset + 1
        if value is None:
            rejected.append(Rejected(rec, "undecodable", "record has no value"))
            continue
        try:
            if topic == signals_topic:
                sig = decode_signal(value)
                inputs.append(sig)
                signals += 1
                partitions[sig.vin] = partition
                if watermarks.get(partition, 0) < sig.as_of_ms:
                    watermarks[partition] = sig.as_of_ms
                continue
            if topic == d.services_topic:
                item: Input = _visit(d.visit(value))
                visits += 1
            else:
                item = d.consent(value)
                consent += 1
        except DataError as exc:
            rejected.append(Rejected(rec, exc.reason, exc.detail))
            continue
        inputs.append(item)
        partitions[item.vin] = partition
    counts = Counter({"signals": signals, "visits": visits, "consent": consent})
    return Decoded(tuple(inputs), tuple(rejected), offsets, +counts, partitions, watermarks)


@dataclass(frozen=True, slots=True)
class Owners:
    """Who owns the batch's vehicles, as far as the contact budget needs to know."""

    of: Mapping[str, str] = field(default_factory=dict)
    """The owner of each vehicle of the batch that names one in the registry (a vehicle without
    is its own owner)."""
    shared: frozenset[str] = frozenset()
    """The owners among them with other registered vehicles: their budget is shared."""
    contacts: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    """Per shared owner, the contacts stored (``owner_contacts``: VIN, epoch ms), read under
    the owner's lock in the batch's transaction."""

    def owner(self, vin: str) -> str | None:
        """The vehicle's owner if its budget is shared with other vehicles, else None."""
        o = self.of.get(vin)
        return o if o is not None and o in self.shared else None

    def vehicles(self) -> dict[str, list[str]]:
        """The batch's vehicles of each shared owner."""
        out: dict[str, list[str]] = {}
        for vin, o in self.of.items():
            if o in self.shared:
                out.setdefault(o, []).append(vin)
        return out


NO_OWNERS = Owners()


def others_contacts(
    vin: str,
    owners: Owners,
    states: Mapping[str, VehicleJourney],
    vehicles: Mapping[str, Sequence[str]] | None = None,
) -> tuple[int, ...]:
    """The contacts (epoch ms) made to the other vehicles of ``vin``'s owner: stored ones, and
    those in the states of the batch's other vehicles of the owner (the latest); empty for a
    vehicle that is its own owner. ``vehicles``: :meth:`Owners.vehicles`, if at hand."""
    owner = owners.owner(vin)
    if owner is None:
        return ()
    seen = {(v, ms) for v, ms in owners.contacts.get(owner, ()) if v != vin}
    for v in (owners.vehicles() if vehicles is None else vehicles).get(owner, ()):
        if v != vin and v in states:
            seen.update((v, ms) for ms in states[v].contacts_ms)
    return tuple(sorted(ms for _, ms in seen))


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    states: Mapping[str, VehicleJourney]
    events: tuple[JourneyEvent, ...]
    alerts: tuple[Alert, ...]
    changes: tuple[AlertChange, ...]
    wakes: Mapping[str, int | None] = field(default_factory=dict)
    """Per vehicle, when to evaluate it next without an input (:mod:`.clock`)."""
    partitions: Mapping[str, int] = field(default_factory=dict)
    """Per vehicle of the batch, the partition of its inputs."""
    consent: tuple[ConsentChange, ...] = ()
    """The batch's consent changes, recorded in ``consent_changes`` (the registry's history,
    read by every other path to a dealer, e.g. the API) as well as in the states."""
    owners: Mapping[str, str] = field(default_factory=dict)
    """The owner of each vehicle of the batch that names one: its contacts are recorded in
    ``owner_contacts``."""
    shared: frozenset[str] = frozenset()
    """The vehicles of the batch whose owner has other vehicles."""
    encoded: Mapping[str, bytes] = field(default_factory=dict)
    """Each state as :meth:`VehicleJourney.to_bytes` gives it, made as soon as the vehicle's
    fold ended: its objects are then in the processor's cache, and writing them out costs a
    third of what it costs once the whole batch was folded (docs/performance.md)."""
    encoded_events: tuple[bytes, ...] = ()
    """Each of :attr:`events` as JSON (:func:`~processors.journey.state.to_json`), made with
    its vehicle's state."""


MAX_TICKS = 64
"""At most this many timed evaluations of one vehicle between two of its inputs."""
ALLOWED_LATENESS_MS = 86_400_000
"""A partition's records are in event-time order only roughly (another vehicle's input a few
hours older may follow): a vehicle is evaluated by time after its last input only up to its
partition's watermark minus this, so that no input of its still to come is older than a tick."""


def tick_until(watermark_ms: int) -> int:
    """How far a partition's watermark lets its vehicles be evaluated by time."""
    return watermark_ms - ALLOWED_LATENESS_MS


def process_batch(
    decoded: Decoded,
    states: Mapping[str, VehicleJourney],
    rules: Rules,
    woken: Mapping[str, int] | None = None,
    owners: Owners = NO_OWNERS,
) -> BatchOutcome:
    """Fold every vehicle's inputs into its state (``states`` holds one per VIN of the batch,
    loaded or new, and one per VIN of ``woken``; they are mutated and returned). ``woken``: the
    vehicles without input in the batch whose next timed instant their partition's watermark
    passed, with that watermark. ``owners``: who owns them, and the contacts of the owners of
    several vehicles."""
    per_vin: dict[str, list[tuple[int, int, int, Input]]] = {}
    for n, item in enumerate(decoded.inputs):  # n: ties keep the batch's order
        per_vin.setdefault(item.vin, []).append((input_ms(item), input_rank(item), n, item))
    limits = {v: tick_until(w) for v, w in (woken or {}).items()}
    for vin in per_vin:
        mark = decoded.watermarks.get(decoded.partitions.get(vin, -1))
        limits[vin] = tick_until(mark) if mark is not None else 0
    out = StepOutput()
    members = owners.vehicles()
    wakes: dict[str, int | None] = {}
    encoded: dict[str, bytes] = {}
    encoded_events: list[bytes] = []
    for vin in sorted(limits):
        j = states[vin]
        first_event = len(out.events)
        others = others_contacts(vin, owners, states, members)
        ordered = sorted(per_vin.get(vin, ()))
        vouched = max(
            [limits[vin], j.as_of_ms] + [e[0] for e in ordered if isinstance(e[3], SignalRecord)]
        )
        kept = [e for e in ordered if not _hold(j, e[3], vouched)]
        last_n = len(kept) - 1
        for n, (ms, _, _, item) in enumerate(kept):
            if n or not _still_asleep(j, ms - 1):
                _tick(j, ms - 1, rules, out, others)
            last = n == last_n or kept[n + 1][0] != ms
            if (
                not last
                and isinstance(item, SignalRecord)
                and isinstance(kept[n + 1][3], SignalRecord)
            ):
                absorb(j, item)  # evaluated with the instant's other signals
                continue
            step(j, item, rules, decide=last, others=others, out=out)
        tick = _tick(j, limits[vin], rules, out, others)
        if owners.owner(vin) is None:
            # the state's next tick, if _tick just computed it
            wakes[vin] = next_wake_ms(j, rules) if tick == WAKE_UNKNOWN else wake_at(j, tick)
            j.wake_ms = wakes[vin]
        else:  # a shared owner's may move with the other vehicles' contacts, folded after
            j.wake_ms = WAKE_UNKNOWN
        encoded[vin] = j.to_bytes()  # final: no other vehicle's fold changes this state
        encoded_events += map(to_json, out.events[first_event:])
    for vin in limits:
        if vin not in wakes:
            wakes[vin] = next_wake_ms(
                states[vin], rules, others_contacts(vin, owners, states, members)
            )
    return BatchOutcome(
        {v: states[v] for v in limits},
        tuple(out.events),
        tuple(out.alerts),
        tuple(out.changes),
        {v: wakes[v] for v in limits},
        {v: p for v, p in decoded.partitions.items() if v in per_vin},
        tuple(i for i in decoded.inputs if isinstance(i, ConsentChange) and i.kind == KIND_CONSENT),
        {v: o for v, o in owners.of.items() if v in limits},
        frozenset(v for v in limits if owners.owner(v) is not None),
        encoded,
        tuple(encoded_events),
    )


def _hold(j: VehicleJourney, item: Input, vouched_ms: int) -> bool:
    """Hold a visit newer than the vehicle's signals can vouch for (its own in the batch, or
    its partition's, with the lateness allowance): read ahead of them (a lagging signals
    processor, a replay), it would move the vehicle's clock past signals still to come and
    its gates would skip them. Held in the state, it is folded when they reach its time
    (:func:`_tick`), so the same inputs give the same journey however they interleave."""
    if not isinstance(item, VisitInput) or item.at_ms <= vouched_ms:
        return False
    if all(h.visit_id != item.visit_id for h in j.held_visits):
        j.held_visits.append(HeldVisit(item.visit_id, item.at_ms, item.dealer_id))
        j.held_visits.sort(key=lambda h: (h.at_ms, h.visit_id))
    return True


def _still_asleep(j: VehicleJourney, until_ms: int) -> bool:
    """Whether the state's kept wake-up instant (:attr:`VehicleJourney.wake_ms`, of the
    batch that left it so) says that nothing is timed up to ``until_ms``: no tick, no held
    visit."""
    w = j.wake_ms
    if w == WAKE_UNKNOWN:
        return False
    if j.held_visits and j.held_visits[0].at_ms <= until_ms:
        return False  # held in this batch, after the wake-up instant was kept
    return w is None or w > until_ms


def _tick(
    j: VehicleJourney, until_ms: int, rules: Rules, out: StepOutput, others: Sequence[int] = ()
) -> int | None:
    """Evaluate ``j`` at each instant up to ``until_ms`` at which time alone changes it, and
    fold the visits it holds up to then, in time order. Returns the state's next tick after
    ``until_ms`` (:func:`next_tick_ms`, None: none) if it computed it, else
    :data:`~processors.journey.state.WAKE_UNKNOWN`."""
    if until_ms <= j.as_of_ms and not (j.held_visits and j.held_visits[0].at_ms <= until_ms):
        return WAKE_UNKNOWN  # every timed instant is after the state's
    for _ in range(MAX_TICKS):
        at = next_tick_ms(j, rules, others)
        if j.held_visits and j.held_visits[0].at_ms <= until_ms:
            h = j.held_visits[0]
            if at is None or h.at_ms <= at:
                j.held_visits.pop(0)
                visit = VisitInput(h.visit_id, j.vin, h.at_ms, h.dealer_id)
                step(j, visit, rules, others=others, out=out)
                continue
        if at is None or at > until_ms:
            return at
        step(j, Tick(j.vin, at), rules, others=others, out=out)
    return WAKE_UNKNOWN

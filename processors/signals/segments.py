"""A polled batch cut before each tick of its partitions' states (the fleet's usage shift, the
dealers' pooled prices), and folded segment by segment (pure).

A tick is a partition's first record, in log order, of a UTC day of event time later than any
of its records before (:mod:`.fleetshift`). The shift in force in a partition changes only
there, to the median of the bins its vehicles hold after every record before it. Cutting the
batch before each tick and folding the segments in turn (each with its partitions' shifts, the
histograms moved by the bins each segment's evaluations left) gives every record the shift it
would have had in batches of any size. The runner stores and publishes each segment as a batch of
its own, its partitions' :class:`~processors.signals.partition.PartitionState` committed with
their offsets. The dealers' prices move the same way: a tick pools the lines waiting long enough
(:mod:`.dealerprices`), and each segment's runs with frames hand their vehicles' new lines to
their partitions.

A batch whose records all fall on days already seen (the common case once live) is one segment.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from database.vehicle_facts import VehicleFacts
from kernel.kafka import SourceRecord
from kernel.offsets import Partition
from processors.signals.dates import MS_PER_DAY
from processors.signals.dealerprices import PricedLines
from processors.signals.logic import BatchOutcome, Decoded, next_offsets, process_batch
from processors.signals.memory import VehicleMemory
from processors.signals.partition import PartitionState
from processors.signals.vehicle import DEFAULT_LOGIC, LogicParams
from reference.catalog import Catalog

NO_STATE = PartitionState()


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of the batch's records, what folding it gave, and what to commit with it."""

    decoded: Decoded
    outcome: BatchOutcome
    records: int
    offsets: Mapping[Partition, int]
    """The next offsets of the segment's partitions."""
    states: Mapping[int, PartitionState]
    """After the segment, the state of each frames partition it holds records of."""


def tick_starts(
    records: Sequence[SourceRecord],
    decoded: Decoded,
    states: Mapping[int, PartitionState],
) -> list[tuple[int, list[tuple[int, int]]]]:
    """Where segments start (record indices, the first 0) and the ticks (partition, day) at
    each start, given the partitions' states before the batch."""
    days = {p: s.shift.day for p, s in states.items()}
    starts: list[tuple[int, list[tuple[int, int]]]] = [(0, [])]
    for frame, at in zip(decoded.frames, decoded.frame_at, strict=True):
        ts = frame[1]
        if not ts:
            continue
        day = ts[-1] // MS_PER_DAY
        p = records[at].partition
        if day <= days.get(p, -1):
            continue
        days[p] = day
        if at != starts[-1][0]:
            starts.append((at, []))
        starts[-1][1].append((p, day))
    return starts


def _dealer(facts: VehicleFacts | None) -> str | None:
    return None if facts is None else facts.dealer_id


def _part(decoded: Decoded, a: int, b: int, records: Sequence[SourceRecord]) -> Decoded:
    """The records ``a:b`` of the batch, decoded (each kind's indices ascend)."""
    f0, f1 = bisect_left(decoded.frame_at, a), bisect_left(decoded.frame_at, b)
    v0, v1 = bisect_left(decoded.visit_at, a), bisect_left(decoded.visit_at, b)
    r0, r1 = bisect_left(decoded.rejected_at, a), bisect_left(decoded.rejected_at, b)
    return Decoded(
        decoded.frames[f0:f1],
        decoded.visits[v0:v1],
        decoded.rejected[r0:r1],
        next_offsets(records[a:b]),
        decoded.frame_at[f0:f1],
        decoded.visit_at[v0:v1],
        decoded.rejected_at[r0:r1],
    )


def process_records(
    records: Sequence[SourceRecord],
    decoded: Decoded,
    memories: Mapping[str, VehicleMemory | None],
    facts: Mapping[str, VehicleFacts],
    catalog: Catalog,
    states: Mapping[int, PartitionState],
    params: LogicParams = DEFAULT_LOGIC,
) -> list[Segment]:
    """Fold a polled batch (``decoded`` from ``records`` by
    :func:`~processors.signals.logic.decode_batch`), one segment per tick (see the module
    docstring). ``states`` holds the state of the batch's frames partitions before it (absent:
    none yet)."""
    starts = tick_starts(records, decoded, states)
    state = dict(states)
    known: dict[str, VehicleMemory | None] = dict(memories)
    out: list[Segment] = []
    whole = len(starts) == 1
    for k, (a, ticks) in enumerate(starts):
        b = starts[k + 1][0] if k + 1 < len(starts) else len(records)
        for p, day in ticks:
            state[p] = state.get(p, NO_STATE).at_tick(day)
        part = decoded if whole else _part(decoded, a, b, records)
        where = {
            frame[0]: records[i].partition
            for frame, i in zip(part.frames, part.frame_at, strict=True)
        }
        in_force = {vin: state.get(p, NO_STATE).shift.shift for vin, p in where.items()}
        levels = {p: state.get(p, NO_STATE).prices.levels() for p in set(where.values())}
        pools = {vin: levels[p].get(_dealer(facts.get(vin)) or "") for vin, p in where.items()}
        outcome = process_batch(part, known, facts, catalog, params, in_force, pools)
        for vin, p in where.items():
            before, after = known.get(vin), outcome.memories[vin]
            old, old_epoch = (None, 0) if before is None else (before.usage_bin, before.usage_epoch)
            held_state = state.get(p, NO_STATE)
            moved = held_state.shift.moved(old, old_epoch, after.usage_bin, after.usage_epoch)
            state[p] = (
                held_state
                if moved is held_state.shift
                else PartitionState(moved, held_state.prices)
            )
        handed: dict[int, list[PricedLines]] = {}
        for vin, (day, dealer, lines, log_sum) in outcome.priced_lines:
            handed.setdefault(where[vin], []).append(PricedLines(day, dealer, lines, log_sum))
        for p, seen in handed.items():
            held_state = state.get(p, NO_STATE)
            state[p] = PartitionState(held_state.shift, held_state.prices.observed(seen))
        known.update(outcome.memories)
        held = set(where.values()) | {p for p, _ in ticks}
        out.append(
            Segment(
                decoded=part,
                outcome=outcome,
                records=b - a,
                offsets=part.next_offsets,
                states={p: state[p] for p in sorted(held)},
            )
        )
    return out

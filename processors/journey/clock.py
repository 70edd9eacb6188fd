"""When time alone changes a vehicle's gates (pure): the next instant to evaluate it at.

The signals processor publishes a forecast only when it changes materially, so a vehicle whose
forecast holds still sends nothing for weeks while its due date comes closer. Its gates must
open, and its deadline stages come, all the same: :func:`next_wake_ms` gives the earliest
instant after the state's event time at which a gate's day-based condition changes (a due date
or a coverage's end comes within a window or a stage, or passes), an open alert expires, or an
alert held back by the contact budget or the minimum gap may go out. The journey processor
evaluates the vehicle again at that instant (a *tick*, :class:`~processors.journey.machine.Tick`)
once the stream's event time has passed it (docs/journey.md, "Time passing").

Distance-based conditions are not timed: the distance driven only comes with a new signal.
"""

from __future__ import annotations

from collections.abc import Sequence

from processors.journey.budget import next_free_ms
from processors.journey.gates import MS_PER_DAY
from processors.journey.rules import Rules
from processors.journey.state import VehicleJourney


def _day_offsets(rules: Rules) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Days relative to a coverage's end and to a service's due date at which a day-based
    condition flips (the first day it holds: ``day - end >= offset``), each in ascending order.
    Computed once per rules object (every input of every vehicle asks)."""
    hit = _OFFSETS.get(id(rules))
    if hit is not None and hit[0] is rules:
        return hit[1]
    s, w, d = rules.stages, rules.warranty_ending, rules.service_due
    stages = (-s.early_days, -s.near_days, -s.deadline_days)
    warranty = (-w.enter_days, *stages, 1, 1 + s.early_days)
    service = (
        -d.enter_days,
        *stages,
        1,
        rules.lapse_after_days_overdue,
        -rules.big_bill.horizon_days,
    )
    offsets = (tuple(sorted(set(warranty))), tuple(sorted(set(service))))
    _OFFSETS[id(rules)] = (rules, offsets)  # the rules kept alive: their id stays theirs
    return offsets


_OFFSETS: dict[int, tuple[Rules, tuple[tuple[int, ...], tuple[int, ...]]]] = {}


def _first_after(day_ms: int, offsets: tuple[int, ...], now_ms: int) -> int | None:
    """The first of ``day_ms``'s UTC day plus each of ``offsets`` (ascending) days that is
    after ``now_ms``."""
    day0 = day_ms // MS_PER_DAY * MS_PER_DAY
    for k in offsets:
        t = day0 + k * MS_PER_DAY
        if t > now_ms:
            return t
    return None


def next_wake_ms(j: VehicleJourney, rules: Rules, others: Sequence[int] = ()) -> int | None:
    """When to take up the vehicle again without a new input: its next tick, or the time of
    the first visit it holds (:func:`processors.journey.logic.process_batch`) if earlier."""
    return wake_at(j, next_tick_ms(j, rules, others))


def wake_at(j: VehicleJourney, tick: int | None) -> int | None:
    """:func:`next_wake_ms` of ``j`` whose next tick is ``tick`` (None: none)."""
    if not j.held_visits:
        return tick
    held = j.held_visits[0].at_ms
    return held if tick is None else min(tick, held)


def next_tick_ms(j: VehicleJourney, rules: Rules, others: Sequence[int] = ()) -> int | None:
    """The earliest instant after ``j.as_of_ms`` at which the vehicle should be evaluated again
    without a new input; None when nothing is timed (or the owner left the journey).
    ``others``: the contacts made to the owner's other vehicles (:mod:`.budget`): while one of
    the vehicle's alerts is held back, their leaving the budget window or the minimum gap may
    free it."""
    if j.left is not None:
        return None
    now = j.as_of_ms
    warranty, service = _day_offsets(rules)
    best: int | None = None  # the earliest instant after now found so far
    for w in j.facts.warranty.values():
        if not w.expired:
            t = _first_after(w.expiry_ms - MS_PER_DAY, warranty, now)  # its last day
            if t is not None and (best is None or t < best):
                best = t
    s = j.facts.service
    if s is not None:
        t = _first_after(s.due_ms, service, now)
        if t is not None and (best is None or t < best):
            best = t
    for a in j.open_alerts:
        t = a.expires_ms
        if t > now and (best is None or t < best):
            best = t
    c = rules.contact
    timed = [t + c.budget_window_days * MS_PER_DAY for t in j.contacts_ms]
    if j.contacts_ms:
        timed.append(max(j.contacts_ms) + c.min_days_between * MS_PER_DAY)
    if others and _held_back(j):
        free = next_free_ms(now, [*j.contacts_ms, *others], c)
        if free is not None:
            timed.append(free)
    for t in timed:
        if t > now and (best is None or t < best):
            best = t
    return best


def _held_back(j: VehicleJourney) -> bool:
    """Whether a stage of an open gate was suppressed and not alerted since (by the budget,
    the gap or a missing consent: the first two may be freed by time)."""
    return any(g.open and g.blocked > g.stage_sent for g in j.gates.values())

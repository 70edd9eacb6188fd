"""Figures from measurements: rates per wall second and per CPU second, medians, percentiles.

Pure: probes in, figures out. A *probe* is one look at a process under load (when, how much work
it has completed, how much CPU it has used); a *run* is the steady part of one repetition; a
*figure* is the median over repetitions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Probe:
    """One observation: monotonic time, work completed so far, CPU seconds used so far."""

    wall_s: float
    done: int
    cpu_s: float

    def shifted(self, offset: int) -> Probe:
        """The same probe with ``offset`` units of earlier work not counted."""
        return Probe(self.wall_s, self.done - offset, self.cpu_s)


@dataclass(frozen=True, slots=True)
class Run:
    """Work done in one measured interval, with the wall time and CPU time it took."""

    count: int
    wall_s: float
    cpu_s: float

    @property
    def rate_per_s(self) -> float:
        return self.count / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def per_cpu_s(self) -> float:
        return self.count / self.cpu_s if self.cpu_s > 0 else math.inf

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per unit of work."""
        return self.cpu_s * 1e6 / self.count if self.count else 0.0


@dataclass(frozen=True, slots=True)
class Figure:
    """The median of several runs of one measurement; ``unit`` is what is counted (msg, row)."""

    name: str
    unit: str
    rate_per_s: float
    per_cpu_s: float
    cpu_us: float
    runs: tuple[Run, ...]
    note: str = ""

    @property
    def spread_pct(self) -> float:
        """Half the range of per-CPU rates across runs, as a share of the median (noise)."""
        values = [r.per_cpu_s for r in self.runs]
        if len(values) < 2 or not self.per_cpu_s:
            return 0.0
        return 50.0 * (max(values) - min(values)) / self.per_cpu_s


class NotEnoughProgress(ValueError):
    """The probes never covered the steady part of the work (the run stalled or was too short)."""


STEADY_FROM, STEADY_TO = 0.1, 0.9
# A shorter steady part is too coarse: CPU time advances in clock ticks (10 ms) and the bridge's
# progress is read every 200 ms.
MIN_STEADY_S = 0.5


def active_run(probes: Sequence[Probe], total: int) -> Run:
    """The steady part of a run: from the first probe that saw at least 10 % of ``total``
    finished to the last that saw at most 90 %.

    Progress is seen only when work is finished (a batch committed, a record readable
    downstream), while CPU is spent as work is done: at any probe some work is done but not yet
    seen. Between two probes of the steady part that work in flight is about the same at both
    ends, so it cancels out; start-up, the first batches and the tail are left out. When the
    work moved in too few steps for such a window (a quick run of a few large batches), the run
    goes from the first probe that saw finished work to the first that saw all of it (or the
    last probe, if the work stalled short of ``total``), which leaves out the CPU of the work in
    flight at the first probe. So does a steady part shorter than :data:`MIN_STEADY_S`.
    """
    seen = [p for p in probes if p.done > 0]
    start = next((p for p in seen if p.done >= total * STEADY_FROM), None)
    end = next((p for p in reversed(seen) if p.done <= total * STEADY_TO), None)
    if (
        start is not None
        and end is not None
        and end.done > start.done
        and end.wall_s - start.wall_s >= MIN_STEADY_S
        and end.cpu_s > start.cpu_s
    ):
        return Run(end.done - start.done, end.wall_s - start.wall_s, end.cpu_s - start.cpu_s)
    return whole_run(probes, total)


def whole_run(probes: Sequence[Probe], total: int) -> Run:
    """From the first probe that saw finished work to the first that saw all of it (or the last
    probe, if the work stalled short of ``total``): for work that has no steady part, such as
    a pipeline whose first stage drains its input ahead of the others.

    Work that finished between two probes leaves no such interval, and work too quick for a CPU
    clock tick leaves no CPU time in it; it is then measured from the part's first probe (its
    start), which counts the start-up too but never fails a run that did its work. Only a run
    in which no work was seen at all raises :class:`NotEnoughProgress`.
    """
    first = next((p for p in probes if p.done > 0), None)
    last = next((p for p in probes if p.done >= total), probes[-1] if probes else None)
    if first is None or last is None:
        reached = probes[-1].done if probes else 0
        raise NotEnoughProgress(f"reached {reached} of {total}")
    if last.wall_s <= first.wall_s or last.done <= first.done or last.cpu_s <= first.cpu_s:
        first = probes[0]
    if last.wall_s <= first.wall_s or last.done <= first.done:
        raise NotEnoughProgress(f"no probe before the first finished work (reached {last.done})")
    return Run(last.done - first.done, last.wall_s - first.wall_s, last.cpu_s - first.cpu_s)


def figure(name: str, unit: str, runs: Sequence[Run], note: str = "") -> Figure:
    """Medians of the runs' wall rate, per-CPU rate and CPU cost, each taken on its own."""
    if not runs:
        raise ValueError(f"{name}: no runs")
    return Figure(
        name=name,
        unit=unit,
        rate_per_s=statistics.median(r.rate_per_s for r in runs),
        per_cpu_s=statistics.median(r.per_cpu_s for r in runs),
        cpu_us=statistics.median(r.cpu_us for r in runs),
        runs=tuple(runs),
        note=note,
    )


def ratio(measured: Figure, ceiling: Figure) -> float:
    """How close ``measured`` comes to ``ceiling``, per CPU second."""
    if ceiling.per_cpu_s <= 0 or math.isinf(ceiling.per_cpu_s):
        return math.nan
    return measured.per_cpu_s / ceiling.per_cpu_s


def combined(name: str, unit: str, parts: Sequence[Figure], note: str = "") -> Figure:
    """The ceiling of doing every part in one process: CPU costs add up per unit of work."""
    cpu_us = sum(p.cpu_us for p in parts)
    per_cpu = 1e6 / cpu_us if cpu_us > 0 else math.inf
    wall = 1.0 / sum(1.0 / p.rate_per_s for p in parts if p.rate_per_s > 0)
    return Figure(name, unit, wall, per_cpu, cpu_us, (), note)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

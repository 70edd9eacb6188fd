"""What a process costs, read by the benchmark from outside: CPU seconds and resident memory.

CPU time is the process's own (user + system, all its threads, not its children), from
``/proc/<pid>/stat`` through psutil; peak memory is the kernel's high-water mark ``VmHWM``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from journeygate.bench.stats import Probe


class ProcessGone(RuntimeError):
    """A measured process exited."""


class Watched:
    """Processes whose CPU time is summed into one probe."""

    def __init__(self, pids: Iterable[int]) -> None:
        self._procs = [psutil.Process(pid) for pid in pids]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self._procs:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess as exc:
                raise ProcessGone(f"process {proc.pid} exited") from exc
            total += times.user + times.system
        return total

    def probe(self, done: int) -> Probe:
        return Probe(time.monotonic(), done, self.cpu_s())


def rss_bytes(pid: int) -> int:
    """Resident set size now."""
    return int(psutil.Process(pid).memory_info().rss)


def peak_rss_bytes(pid: int) -> int:
    """The highest resident set size the process has had (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return rss_bytes(pid)


def memory_bytes() -> int:
    """The machine's physical memory."""
    return int(psutil.virtual_memory().total)


def own_cpu_s() -> float:
    """CPU seconds of the calling process (all threads)."""
    return time.process_time()

"""The publish clock: when, in wall-clock seconds after publishing starts, a message may go out.

Two exclusive ways of pacing, and a cap that applies to both:

- ``speedup`` S > 0: a message due at simulated time ``sim_ms`` goes out
  ``(sim_ms - sim_start_ms) / 1000 / S`` seconds after the start (bursts stay bursts);
- ``rate_per_s`` R > 0: message number ``i`` goes out ``i / R`` seconds after the start, a steady
  target rate (after a stall the publisher catches up as fast as the cap allows);
- neither: as fast as possible;
- ``max_rate_per_s`` M > 0: never two publishes closer than ``1 / M`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pacer:
    sim_start_ms: int
    speedup: float = 0.0
    rate_per_s: float = 0.0
    max_rate_per_s: float = 0.0

    def due_s(self, index: int, sim_ms: int, previous_sent_s: float | None) -> float:
        """Seconds after the start at which publish number ``index`` (due at ``sim_ms``) may go
        out, given the time (same origin) the previous publish went out, if any."""
        due = 0.0
        if self.speedup > 0:
            due = max(0.0, (sim_ms - self.sim_start_ms) / 1000.0 / self.speedup)
        elif self.rate_per_s > 0:
            due = index / self.rate_per_s
        if self.max_rate_per_s > 0 and previous_sent_s is not None:
            due = max(due, previous_sent_s + 1.0 / self.max_rate_per_s)
        return due

    def wall_span_s(self, sim_end_ms: int, messages: int) -> float:
        """Least wall-clock seconds ``messages`` publishes ending at ``sim_end_ms`` take."""
        paced = self.due_s(max(0, messages - 1), sim_end_ms, None)
        if self.max_rate_per_s > 0 and messages > 1:
            paced = max(paced, (messages - 1) / self.max_rate_per_s)
        return paced

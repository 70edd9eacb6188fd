"""The simulated clock: when, in wall-clock seconds after the run starts, a publish is due.

Simulated time ``sim_ms`` maps to ``(sim_ms - sim_start_ms) / 1000 / speedup`` seconds after the
start (``speedup`` 0: no waiting). A rate cap adds a minimum interval after the previous publish.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pacer:
    sim_start_ms: int
    speedup: float = 0.0
    rate_per_s: float = 0.0

    def due_s(self, sim_ms: int, previous_sent_s: float | None) -> float:
        """Seconds after the start at which a publish due at ``sim_ms`` may go out, given the
        time (same origin) the previous publish went out, if any."""
        due = 0.0
        if self.speedup > 0:
            due = max(0.0, (sim_ms - self.sim_start_ms) / 1000.0 / self.speedup)
        if self.rate_per_s > 0 and previous_sent_s is not None:
            due = max(due, previous_sent_s + 1.0 / self.rate_per_s)
        return due

    def wall_span_s(self, sim_end_ms: int) -> float:
        """Wall-clock seconds the simulated period takes at this speed-up (0 if unpaced)."""
        return self.due_s(sim_end_ms, None)

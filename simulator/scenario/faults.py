"""The ``[faults]`` part of a scenario: what goes wrong on the way, how often, and when.

Rates are per valid message (``duplicate_rate``, ``out_of_order.rate``, every malformed kind), per
sample (odometer glitches) or per vehicle and day (episodes: dead zones, clock skews, reboots).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from simulator.scenario.checks import IntRange, Probability, Range, Rate, Section

EPISODES_PER_DAY_MAX = 50.0


class DeadZoneFaults(Section):
    """No connectivity for a while: messages are held and flushed as batches on reconnect."""

    per_vehicle_day: Rate = Field(default=0.02, le=EPISODES_PER_DAY_MAX)
    duration_min: Range = (10.0, 240.0)
    flush_batch_samples: int = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _positive(self) -> DeadZoneFaults:
        if self.duration_min[0] <= 0:
            raise ValueError("duration_min must be positive")
        return self


class OutOfOrderFaults(Section):
    """A message overtaken on the way by the next ``overtaken_by`` messages of its vehicle."""

    rate: Probability = 0.002
    overtaken_by: IntRange = (1, 5)

    @model_validator(mode="after")
    def _at_least_one(self) -> OutOfOrderFaults:
        if self.overtaken_by[0] < 1:
            raise ValueError("overtaken_by must be at least 1")
        return self


class ClockSkewFaults(Section):
    """Episodes when a device clock is off by ``offset_s``, or, for ``far_ahead_share`` of them,
    set far into the future (its messages must be rejected as ``future_timestamp``)."""

    per_vehicle_day: Rate = Field(default=0.005, le=EPISODES_PER_DAY_MAX)
    duration_h: Range = (1.0, 48.0)
    offset_s: Range = (-120.0, 120.0)
    far_ahead_share: Probability = 0.1

    @model_validator(mode="after")
    def _positive(self) -> ClockSkewFaults:
        if self.duration_h[0] <= 0:
            raise ValueError("duration_h must be positive")
        return self


class RebootFaults(Section):
    """Telematics unit reboots: a new ``boot_id`` and ``seq`` from 0."""

    per_vehicle_day: Rate = Field(default=0.02, le=EPISODES_PER_DAY_MAX)


class OdometerFaults(Section):
    """One-sample odometer glitches (valid payloads the pipeline stores and later stages flag)."""

    rollback: Probability = 0.0005
    jump: Probability = 0.0005
    unit_error: Probability = 0.0005
    rollback_km: Range = (0.5, 50.0)
    jump_km: Range = (1000.0, 100_000.0)

    @model_validator(mode="after")
    def _sane(self) -> OdometerFaults:
        if self.rollback + self.jump + self.unit_error > 1.0:
            raise ValueError("rollback + jump + unit_error must not exceed 1")
        if self.rollback_km[0] <= 0 or self.jump_km[0] <= 0 or self.jump_km[1] > 4_000_000:
            raise ValueError("glitch sizes must be positive (jump_km at most 4,000,000)")
        return self


class MalformedFaults(Section):
    """Malformed messages per valid message, by kind (see ``simulator.scenario.kinds.FAULTS``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    invalid_json: Probability = 0.0005
    non_finite_number: Probability = 0.0005
    schema_: Probability = Field(default=0.0005, alias="schema")
    out_of_range: Probability = 0.0005
    bad_dtc: Probability = 0.0005
    vin_mismatch: Probability = 0.0005
    unknown_vin: Probability = 0.0005
    future_timestamp: Probability = 0.0005
    bad_vin: Probability = 0.0005
    oversize: Probability = 0.0005
    # Every kind whose rate is above 0 appears at least this many times (e.g. in a smoke test).
    min_each: int = Field(default=0, ge=0, le=1000)

    def rates(self) -> dict[str, float]:
        """Rate by kind name."""
        return {
            ("schema" if name == "schema_" else name): float(getattr(self, name))
            for name in type(self).model_fields
            if name != "min_each"
        }

    @property
    def total(self) -> float:
        return sum(self.rates().values())


class FaultsSection(Section):
    duplicate_rate: Probability = 0.01
    duplicate_delay_ms: IntRange = (500, 5000)
    dead_zone: DeadZoneFaults = DeadZoneFaults()
    out_of_order: OutOfOrderFaults = OutOfOrderFaults()
    clock_skew: ClockSkewFaults = ClockSkewFaults()
    reboot: RebootFaults = RebootFaults()
    odometer: OdometerFaults = OdometerFaults()
    malformed: MalformedFaults = MalformedFaults()

    @model_validator(mode="after")
    def _delay(self) -> FaultsSection:
        if self.duplicate_delay_ms[0] < 0:
            raise ValueError("duplicate_delay_ms must be >= 0")
        return self

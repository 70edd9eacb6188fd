"""The plan's records: every publish (:class:`Outgoing`) and each vehicle's truth."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from reference.catalog import Market
from simulator.scenario.params import GenerationParams
from simulator.scenario.profiles import Profile
from simulator.world.events import Event
from simulator.world.fleet import Vehicle
from simulator.world.horizon import Future
from simulator.world.invoices import ServiceWorld
from simulator.world.messages import DeviceMessage
from simulator.world.owners import Owner
from simulator.world.prices import Garage
from simulator.world.timeline import Standing
from simulator.world.value import ValueTruth
from simulator.world.warranty import CoverageTruth

KIND_VALID = "valid"
KIND_DUPLICATE = "duplicate"
KIND_MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT publish: on topic ``{root}/{topic_vin}/telemetry``, due at ``publish_ms``.

    ``device`` is the vehicle's message behind a valid publish, its repeat, or a rejected
    message of its own stream (clock far ahead); ``variant`` details a malformed ``fault``."""

    publish_ms: int
    topic_vin: str
    payload: bytes
    kind: str
    vin: str
    boot_id: str
    seq: int
    sample_count: int
    first_ts_ms: int
    last_ts_ms: int
    odometer_m: int | None = None
    duplicate_of: int | None = None
    fault: str | None = None
    variant: str | None = None
    device: DeviceMessage | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        return self.device.all_tags if self.device is not None else ()


@dataclass(frozen=True, slots=True)
class VehicleTruth:
    """What really happened to one vehicle: ``trajectory_m[i]`` is its true odometer at the end
    of day ``first_day + i``."""

    vehicle: Vehicle
    owner: Owner
    first_day: date
    trajectory_m: tuple[int, ...]
    events: tuple[Event, ...]
    warranty: tuple[CoverageTruth, ...]
    usage: Profile
    world: ServiceWorld
    standing: Standing
    value: ValueTruth
    future: Future | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The run: the period ``[start, now]``, the fleet, each vehicle's truth, every publish;
    the dealers' prices, the market and its fleet-wide value factor."""

    now: datetime
    start: datetime
    params: GenerationParams
    fleet: tuple[Vehicle, ...]
    vehicles: tuple[VehicleTruth, ...]
    messages: tuple[Outgoing, ...]
    dealers: tuple[Garage, ...] = ()
    market: Market | None = None
    market_factor: float = 1.0
    owner_ids: tuple[str, ...] = ()
    """The owner of each vehicle of ``vehicles`` (registry ``owner_id``; some own several:
    :func:`simulator.world.owners.group_owners`); empty: each vehicle its own owner."""

    def kind_counts(self) -> Counter[str]:
        return Counter(m.kind for m in self.messages)

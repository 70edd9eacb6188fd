"""The whole simulation as a pure function: seed, parameters and ``now`` in, a publish plan out.

The plan lists every MQTT publish in order (valid messages, repeats, malformed messages) with
the simulated time it is due and what the pipeline must make of it. The same generator state,
parameters, catalog and ``now`` give the same plan, byte for byte.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from simulator.catalog import Catalog
from simulator.faults import Malformed, malformed_messages, pick_duplicates
from simulator.fleet import Vehicle, generate_fleet
from simulator.messages import MAX_PUBLISH_DELAY_MS, DeviceMessage, encode, vehicle_messages
from simulator.params import GenerationParams
from simulator.usage import plan_days, to_ms

KIND_VALID = "valid"
KIND_DUPLICATE = "duplicate"
KIND_MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT publish: on topic ``{root}/{topic_vin}/telemetry``, due at ``publish_ms``."""

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


@dataclass(frozen=True, slots=True)
class Plan:
    now: datetime
    start: datetime
    params: GenerationParams
    fleet: tuple[Vehicle, ...]
    messages: tuple[Outgoing, ...]

    def kind_counts(self) -> Counter[str]:
        return Counter(m.kind for m in self.messages)


def build_plan(
    rng: np.random.Generator, params: GenerationParams, catalog: Catalog, now: datetime
) -> Plan:
    """Generate the fleet, its messages and the injected faults for ``[now - days, now]``."""
    now = now.astimezone(UTC).replace(microsecond=(now.microsecond // 1000) * 1000)
    start = now - timedelta(days=params.days)
    now_ms, start_ms = to_ms(now), to_ms(start)
    fleet = generate_fleet(rng, catalog, params.vehicles, start.date(), params.dealers)
    valid: list[Outgoing] = []
    for vehicle in fleet:
        days = plan_days(
            rng, catalog.usage, vehicle.mean_daily_km, start_ms, now_ms, MAX_PUBLISH_DELAY_MS
        )
        for msg in vehicle_messages(rng, vehicle, days, catalog.faults, params.batch_probability):
            valid.append(_valid(msg))
    repeats = pick_duplicates(rng, [m.publish_ms for m in valid], params.duplicate_rate, now_ms)
    bad_count = int(rng.binomial(len(valid), params.malformed_rate)) if valid else 0
    bad = malformed_messages(
        rng,
        fleet,
        bad_count,
        params.usable_malformed_kinds,
        start_ms,
        now_ms,
        params.max_payload_bytes,
    )
    return Plan(now, start, params, fleet, _order(valid, repeats, bad))


def _valid(msg: DeviceMessage) -> Outgoing:
    return Outgoing(
        publish_ms=msg.publish_ms,
        topic_vin=msg.vin,
        payload=encode(msg),
        kind=KIND_VALID,
        vin=msg.vin,
        boot_id=msg.boot_id,
        seq=msg.seq,
        sample_count=len(msg.samples),
        first_ts_ms=msg.samples[0].ts_ms,
        last_ts_ms=msg.samples[-1].ts_ms,
        odometer_m=msg.samples[-1].odometer_m,
    )


def _malformed(m: Malformed) -> Outgoing:
    return Outgoing(
        publish_ms=m.publish_ms,
        topic_vin=m.topic_vin,
        payload=m.payload,
        kind=KIND_MALFORMED,
        vin=m.payload_vin,
        boot_id=m.boot_id,
        seq=0,
        sample_count=1,
        first_ts_ms=m.ts_ms,
        last_ts_ms=m.ts_ms,
        fault=m.kind,
    )


def _order(
    valid: list[Outgoing], repeats: list[tuple[int, int]], bad: list[Malformed]
) -> tuple[Outgoing, ...]:
    """Sort by due time (ties in creation order) and point each repeat at its original."""
    items: list[tuple[int, int, Outgoing, int | None]] = [
        (m.publish_ms, i, m, None) for i, m in enumerate(valid)
    ]
    base = len(items)
    for j, (original, due_ms) in enumerate(repeats):
        copy = replace(valid[original], publish_ms=due_ms, kind=KIND_DUPLICATE)
        items.append((due_ms, base + j, copy, original))
    base = len(items)
    items.extend((m.publish_ms, base + k, _malformed(m), None) for k, m in enumerate(bad))
    items.sort(key=lambda item: (item[0], item[1]))
    position = {created: pos for pos, (_, created, _, _) in enumerate(items)}
    return tuple(
        msg if source is None else replace(msg, duplicate_of=position[source])
        for _, _, msg, source in items
    )

"""The whole simulation as a pure function: seed, parameters and ``now`` in, a publish plan out.

The plan lists every MQTT publish in order (valid messages, repeats, malformed messages, and a
vehicle's own messages that must be rejected) with the simulated time it is due and what the
pipeline must make of it, plus each vehicle's owner, true trajectory and events. The same
generator state, parameters, reference data and ``now`` give the same plan, byte for byte.

Randomness is split into independent streams (fleet; per vehicle: owner, driving, each kind of
device or network fault, prices and wear; repeats and malformed messages; the dealers' prices
and the market), so turning a fault on or off leaves the fleet, the driving and the other
faults as they were, and the world's prices never change a message.

With ``horizon_days`` > 0 each vehicle then lives on after ``now``, continuing its streams
(:mod:`simulator.world.horizon`): the published part is the same with or without a horizon.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from reference.catalog import Catalog
from simulator.publishing.malformed import malformed_messages
from simulator.publishing.netfaults import transmit
from simulator.publishing.plan import (
    KIND_DUPLICATE,
    KIND_MALFORMED,
    KIND_VALID,
    Outgoing,
    Plan,
    VehicleTruth,
)
from simulator.scenario.kinds import FAR_AHEAD_CLOCK, Malformed, malformed_kinds, pick_duplicates
from simulator.scenario.params import GenerationParams
from simulator.world.fleet import FleetMix, Vehicle, dealer_ids, generate_fleet
from simulator.world.horizon import future_of, future_trade_in, live_on
from simulator.world.invoices import service_world
from simulator.world.messages import (
    MAX_PUBLISH_DELAY_MS,
    DeviceMessage,
    encode,
    max_samples_per_message,
)
from simulator.world.owners import generate_owner, group_owners
from simulator.world.prices import Garage, draw_dealers, mean_one
from simulator.world.timeline import live
from simulator.world.usage import Trip, plan_days, to_ms
from simulator.world.value import true_value
from simulator.world.warranty import coverages

__all__ = [
    "KIND_DUPLICATE",
    "KIND_MALFORMED",
    "KIND_VALID",
    "Outgoing",
    "Plan",
    "VehicleTruth",
    "build_plan",
]


def build_plan(
    rng: np.random.Generator, params: GenerationParams, catalog: Catalog, now: datetime
) -> Plan:
    """Generate the fleet, its life, its messages and the injected faults for
    ``[now - days, now]``."""
    now = now.astimezone(UTC).replace(microsecond=(now.microsecond // 1000) * 1000)
    start = now - timedelta(days=params.days)
    now_ms, start_ms = to_ms(now), to_ms(start)
    fleet_rng, world_rng, fault_rng, market_rng = rng.spawn(4)
    mix = FleetMix(params.profiles, params.profile_specs, params.model_weights)
    fleet = generate_fleet(fleet_rng, catalog, params.vehicles, start.date(), mix, params.dealers)
    dealers = draw_dealers(market_rng, dealer_ids(params.dealers), params.dealer_prices)
    market_factor = mean_one(market_rng, params.value.market_sigma)
    stream: list[Outgoing] = []
    truths = []
    for vehicle, vrng in zip(fleet, world_rng.spawn(len(fleet)), strict=True):
        sent, truth = _vehicle(
            vrng, vehicle, params, catalog, dealers[vehicle.dealer_id], market_factor, now, start
        )
        stream += [_from_device(m) for m in sent]
        truths.append(truth)
    valid = [m for m in stream if m.kind == KIND_VALID]
    faults = params.faults
    repeats = pick_duplicates(
        fault_rng,
        [m.publish_ms for m in valid],
        faults.duplicate_rate,
        now_ms,
        faults.duplicate_delay_ms,
    )
    kinds = malformed_kinds(
        fault_rng, len(valid), params.malformed_rates, faults.malformed.min_each
    )
    bad = malformed_messages(fault_rng, fleet, kinds, start_ms, now_ms, params.max_payload_bytes)
    messages = _order(stream, valid, repeats, bad)
    # Drawn last, from a stream of its own: the grouping changes no other draw.
    (owners_rng,) = rng.spawn(1)
    owner_ids = group_owners(owners_rng, len(fleet), params.owners.multi_vehicle_share)
    return Plan(
        now,
        start,
        params,
        fleet,
        tuple(truths),
        messages,
        dealers=tuple(dealers.values()),
        market=catalog.market(params.market),
        market_factor=market_factor,
        owner_ids=owner_ids,
    )


def _vehicle(
    vrng: np.random.Generator,
    vehicle: Vehicle,
    params: GenerationParams,
    catalog: Catalog,
    dealer: Garage,
    market_factor: float,
    now: datetime,
    start: datetime,
) -> tuple[list[DeviceMessage], VehicleTruth]:
    """One vehicle's owner, life, messages and truth; with a horizon, its future."""
    now_ms, start_ms = to_ms(now), to_ms(start)
    first_day = start.date()
    max_samples = max_samples_per_message(params.max_payload_bytes)
    owner_rng, life_rng, net_rng, price_rng = vrng.spawn(4)
    owner = generate_owner(
        owner_rng, vehicle, params.owners, params.finance, params.consent, start_ms, now_ms
    )
    world = service_world(price_rng, vehicle, catalog, dealer, params.invoices, params.wear)
    value_factor = mean_one(price_rng, params.value.vehicle_sigma)
    # Its own stream: the world's other draws stay as they were without trims and options.
    options_factor = mean_one(price_rng.spawn(1)[0], params.value.options_sigma)
    profile = params.profile_specs[vehicle.profile]
    leftover: list[Trip] = []
    days = plan_days(
        life_rng, profile, vehicle.mean_daily_km, start_ms, now_ms, MAX_PUBLISH_DELAY_MS, leftover
    )
    history = live(
        life_rng,
        vehicle,
        owner,
        profile,
        first_day,
        days,
        catalog,
        params.diagnostics,
        params.owners,
        max_samples,
        world,
    )
    sent, net_events = transmit(
        net_rng, vehicle.vin, history.intents, params.faults, start_ms, now_ms, max_samples
    )
    events = tuple(
        sorted(history.events + tuple(net_events) + owner.consent_changes, key=lambda e: e.ts_ms)
    )
    terms = catalog.warranty_for(vehicle.brand)
    assert history.continuation is not None
    standing = history.continuation.standing()
    value = true_value(
        vehicle,
        catalog,
        owner.finance,
        now.date(),
        standing.odometer_m,
        value_factor,
        market_factor,
        options_factor,
    )
    future = None
    if params.horizon_days > 0:
        trade_in_ms = future_trade_in(owner_rng, owner, params.owners, now, params.horizon_days)
        ends, later = live_on(
            life_rng,
            vehicle,
            profile,
            history.continuation,
            days,
            leftover,
            owner.trade_in_ms if owner.trade_in_ms is not None else trade_in_ms,
            now,
            params.horizon_days,
        )
        after_now = tuple(e for e in history.events if e.ts_ms > now_ms)
        future = future_of(
            vehicle,
            terms,
            first_day,
            history.trajectory_m,
            ends,
            sorted((*after_now, *later), key=lambda e: e.ts_ms),
            now,
            params.horizon_days,
            trade_in_ms,
        )
    truth = VehicleTruth(
        vehicle=vehicle,
        owner=owner,
        first_day=first_day,
        trajectory_m=history.trajectory_m,
        events=events,
        warranty=coverages(vehicle, terms, first_day, history.trajectory_m),
        usage=profile,
        world=world,
        standing=standing,
        value=value,
        future=future,
    )
    return sent, truth


def _from_device(msg: DeviceMessage) -> Outgoing:
    samples = msg.samples
    return Outgoing(
        publish_ms=msg.publish_ms,
        topic_vin=msg.vin,
        payload=encode(msg),
        kind=KIND_MALFORMED if msg.far_ahead else KIND_VALID,
        vin=msg.vin,
        boot_id=msg.boot_id,
        seq=msg.seq,
        sample_count=len(samples),
        first_ts_ms=samples[0].ts_ms,
        last_ts_ms=samples[-1].ts_ms,
        odometer_m=samples[-1].odometer_m,
        fault=FAR_AHEAD_CLOCK if msg.far_ahead else None,
        device=msg,
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
        variant=m.variant,
    )


def _order(
    stream: list[Outgoing],
    valid: list[Outgoing],
    repeats: list[tuple[int, int]],
    bad: list[Malformed],
) -> tuple[Outgoing, ...]:
    """Sort by due time (ties in creation order) and point each repeat at its original."""
    created = {id(m): i for i, m in enumerate(stream)}
    items: list[tuple[int, int, Outgoing, int | None]] = [
        (m.publish_ms, i, m, None) for i, m in enumerate(stream)
    ]
    base = len(items)
    for j, (original, due_ms) in enumerate(repeats):
        copy = replace(valid[original], publish_ms=due_ms, kind=KIND_DUPLICATE)
        items.append((due_ms, base + j, copy, created[id(valid[original])]))
    base = len(items)
    items.extend((m.publish_ms, base + k, _malformed(m), None) for k, m in enumerate(bad))
    items.sort(key=lambda item: (item[0], item[1]))
    position = {made: pos for pos, (_, made, _, _) in enumerate(items)}
    return tuple(
        msg if source is None else replace(msg, duplicate_of=position[source])
        for _, _, msg, source in items
    )

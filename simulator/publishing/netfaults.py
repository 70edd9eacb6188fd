"""From what a device means to send to what it publishes, and in which order (pure).

- **Dead zones**: while a vehicle has no connectivity its messages are held; on reconnect their
  samples go out as store-and-forward batches (``flush_batch_samples`` at most per message).
- **Reboots**: the unit restarts at random times; each message gets the ``boot_id`` current when
  it is sent and a ``seq`` counting from 0 per boot, in sending order.
- **Out-of-order delivery**: a message is overtaken on the way by the next few of its vehicle
  (its publish time moves after theirs; its ``seq`` does not change).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

import numpy as np

from simulator.scenario.faults import DeadZoneFaults, FaultsSection, OutOfOrderFaults, RebootFaults
from simulator.world.devicefaults import apply_glitches, apply_skew, skew_episodes
from simulator.world.events import DeadZone, Event, Reboot
from simulator.world.messages import (
    TAG_DEAD_ZONE,
    TAG_OUT_OF_ORDER,
    TAG_REBOOT,
    DeviceMessage,
    Reading,
    chunks,
    new_boot_id,
)
from simulator.world.timeline import Intent
from simulator.world.usage import DAY_MS

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Pending:
    """A message ready to go, before it has a boot id and seq."""

    send_ms: int
    readings: tuple[Reading, ...]
    tags: tuple[str, ...] = ()


def dead_zones(
    rng: np.random.Generator, cfg: DeadZoneFaults, start_ms: int, now_ms: int
) -> list[tuple[int, int]]:
    """Non-overlapping ``(begin, end)`` periods without connectivity, in time order."""
    days = (now_ms - start_ms) / DAY_MS
    count = int(rng.poisson(cfg.per_vehicle_day * days))
    zones: list[tuple[int, int]] = []
    for begin in sorted(int(b) for b in rng.integers(start_ms, now_ms, size=count)):
        end = min(now_ms, begin + round(float(rng.uniform(*cfg.duration_min)) * MINUTE_MS))
        if zones and begin <= zones[-1][1]:
            zones[-1] = (zones[-1][0], max(zones[-1][1], end))
        else:
            zones.append((begin, end))
    return zones


def apply_dead_zones(
    vin: str,
    intents: list[Intent],
    zones: list[tuple[int, int]],
    batch_samples: int,
    now_ms: int,
) -> tuple[list[Pending], list[DeadZone]]:
    """Hold what is due inside a zone and flush it as batches when the zone ends."""
    ordered = sorted(intents, key=lambda i: i.send_ms)
    pending: list[Pending] = []
    events: list[DeadZone] = []
    held: dict[int, list[Intent]] = {}
    begins = [b for b, _ in zones]
    for intent in ordered:
        z = bisect.bisect_right(begins, intent.send_ms) - 1
        if z >= 0 and intent.send_ms < zones[z][1]:
            held.setdefault(z, []).append(intent)
        else:
            pending.append(Pending(intent.send_ms, intent.readings))
    for z, (begin, end) in enumerate(zones):
        intents_held = held.get(z, [])
        readings = tuple(r for i in intents_held for r in i.readings)
        for k, batch in enumerate(chunks(readings, batch_samples)):
            pending.append(Pending(min(end + k, now_ms), batch, (TAG_DEAD_ZONE,)))
        events.append(DeadZone(vin, begin, end, len(intents_held), len(readings)))
    pending.sort(key=lambda p: p.send_ms)
    return pending, events


def assign_boots(
    rng: np.random.Generator,
    vin: str,
    pending: list[Pending],
    cfg: RebootFaults,
    start_ms: int,
    now_ms: int,
) -> tuple[list[DeviceMessage], list[Reboot]]:
    """Give each message the boot current when it is sent and the next ``seq`` of that boot."""
    days = (now_ms - start_ms) / DAY_MS
    count = int(rng.poisson(cfg.per_vehicle_day * days))
    reboot_ms = sorted(int(t) for t in rng.integers(start_ms, now_ms, size=count))
    boots = [new_boot_id(rng) for _ in range(count + 1)]
    seqs = [0] * (count + 1)
    messages = []
    for p in pending:
        b = bisect.bisect_right(reboot_ms, p.send_ms)
        tags = p.tags + ((TAG_REBOOT,) if b > 0 and seqs[b] == 0 else ())
        messages.append(DeviceMessage(vin, boots[b], seqs[b], p.send_ms, p.readings, tags))
        seqs[b] += 1
    events = [
        Reboot(vin, at, boots[b + 1], boots[b], seqs[b] - 1 if seqs[b] else None)
        for b, at in enumerate(reboot_ms)
    ]
    return messages, events


def reorder(
    rng: np.random.Generator, messages: list[DeviceMessage], cfg: OutOfOrderFaults, now_ms: int
) -> list[DeviceMessage]:
    """Delay some messages past the next few of the same vehicle; returns publish order."""
    n = len(messages)
    if n < 2 or cfg.rate == 0:
        return messages
    chosen = np.flatnonzero(rng.random(n) < cfg.rate)
    lo, hi = cfg.overtaken_by
    steps = rng.integers(lo, hi + 1, size=len(chosen))
    publish = [m.publish_ms for m in messages]
    moved = set()
    for i, k in zip(chosen.tolist(), steps.tolist(), strict=True):
        if i + k < n and publish[i + k] + 1 <= now_ms:
            publish[i] = max(publish[i], publish[i + k] + 1)
            moved.add(i)
    order = sorted(range(n), key=lambda i: (publish[i], i))
    out = []
    for rank, i in enumerate(order):
        m = replace(messages[i], publish_ms=publish[i])
        if i in moved:
            overtaken = sum(1 for j in order[:rank] if j > i)
            if overtaken:
                m = replace(m, tags=(*m.tags, TAG_OUT_OF_ORDER), overtaken_by=overtaken)
        out.append(m)
    return out


def transmit(
    rng: np.random.Generator,
    vin: str,
    intents: tuple[Intent, ...],
    faults: FaultsSection,
    start_ms: int,
    now_ms: int,
    max_samples: int,
) -> tuple[list[DeviceMessage], list[Event]]:
    """What a vehicle publishes: device and network faults applied to what it means to send, in
    the order they act (clock, odometer, coverage, reboots, delivery order), and their events."""
    skew_rng, glitch_rng, zone_rng, boot_rng, order_rng = rng.spawn(5)
    episodes = skew_episodes(skew_rng, faults.clock_skew, vin, start_ms, now_ms)
    sendable = apply_skew(list(intents), episodes)
    sendable = apply_glitches(glitch_rng, sendable, faults.odometer)
    zones = dead_zones(zone_rng, faults.dead_zone, start_ms, now_ms)
    batch = min(faults.dead_zone.flush_batch_samples, max_samples)
    pending, zone_events = apply_dead_zones(vin, sendable, zones, batch, now_ms)
    messages, reboots = assign_boots(boot_rng, vin, pending, faults.reboot, start_ms, now_ms)
    messages = reorder(order_rng, messages, faults.out_of_order, now_ms)
    return messages, [*episodes, *zone_events, *reboots]

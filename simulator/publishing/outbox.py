"""The device side of end-to-end acknowledgement: keep every message until it is confirmed. Pure.

A simulated device that honours its downlink (``publish.acks = "honour"``) keeps each message it
publishes until an acknowledgement on ``{root}/{VIN}/ack`` covers it (``boot_id`` equal, ``seq``
at most the acknowledged one: kernel/acks.py), and sends again what is still unconfirmed after a
reconnect of its connection, or once ``resend_after_s`` passed both since it last sent it and
since an acknowledgement last confirmed anything of the device (then twice as long after each
further attempt). A pipeline that is behind but confirming keeps the timer from firing: a gap
stops the device's confirmations, a lag does not. A PUBACK only says the broker has the
message; a broker that crashes before passing it on loses it, and only this brings it back.

Each device keeps at most ``capacity`` messages. When a new one does not fit, the oldest kept
is dropped and counted (:attr:`Outboxes.dropped`): a device cannot hold an unbounded backlog,
and a loss it had to accept shows up as a gap downstream.

Not thread-safe: the caller serialises access (acknowledgements arrive on MQTT network threads).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

Key = tuple[str, int]
"""A kept message by ``(boot_id, seq)``."""


@dataclass(slots=True)
class Kept:
    """A message kept for a possible resend."""

    vin: str
    boot_id: str
    seq: int
    topic: str
    payload: bytes
    sent_s: float
    attempts: int = 1


@dataclass(slots=True)
class _Device:
    kept: dict[Key, Kept] = field(default_factory=dict)  # in the order they were first kept
    seqs: dict[str, list[int]] = field(default_factory=dict)  # per boot, a heap of kept seqs
    acked: dict[str, int] = field(default_factory=dict)  # per boot, the highest acknowledged
    progress_s: float = float("-inf")  # when an acknowledgement last confirmed a message


class Outboxes:
    """The kept messages of every device of a fleet."""

    def __init__(self, capacity: int, resend_after_s: float) -> None:
        if capacity < 1 or resend_after_s <= 0:
            raise ValueError("capacity must be >= 1 and resend_after_s > 0")
        self.capacity = capacity
        self.resend_after_s = resend_after_s
        self._devices: dict[str, _Device] = {}
        self.kept = 0
        """Messages kept now, over all devices."""
        self.confirmed = 0
        """Messages an acknowledgement covered."""
        self.dropped = 0
        """Messages dropped unconfirmed because their device's outbox was full."""
        self.acks = 0
        """Acknowledgements received."""

    def keep(
        self, vin: str, boot_id: str, seq: int, topic: str, payload: bytes, now_s: float
    ) -> None:
        """Keep a message just published (again: nothing changes but its send time), unless an
        acknowledgement covers it already."""
        device = self._devices.setdefault(vin, _Device())
        if seq <= device.acked.get(boot_id, -1):
            return
        key = (boot_id, seq)
        found = device.kept.get(key)
        if found is not None:
            found.sent_s = now_s
            return
        if len(device.kept) >= self.capacity:
            oldest = next(iter(device.kept))
            self._forget(device, oldest)
            self.dropped += 1
        device.kept[key] = Kept(vin, boot_id, seq, topic, payload, now_s)
        heapq.heappush(device.seqs.setdefault(boot_id, []), seq)
        self.kept += 1

    def acknowledge(self, vin: str, boot_id: str, seq: int, now_s: float) -> int:
        """Forget what ``(boot_id, 0..seq)`` covers; returns how many messages that was."""
        self.acks += 1
        device = self._devices.setdefault(vin, _Device())
        if seq <= device.acked.get(boot_id, -1):
            return 0
        device.acked[boot_id] = seq
        heap = device.seqs.get(boot_id, [])
        covered = 0
        while heap and heap[0] <= seq:
            kept = device.kept.pop((boot_id, heapq.heappop(heap)), None)
            if kept is not None:
                covered += 1
        if not heap:
            device.seqs.pop(boot_id, None)
        self.kept -= covered
        self.confirmed += covered
        if covered:
            device.progress_s = max(device.progress_s, now_s)
        return covered

    def due(self, now_s: float) -> list[Kept]:
        """The kept messages whose wait for a confirmation is over, oldest first; each counts
        as sent again now (the caller publishes them)."""
        out: list[Kept] = []
        for device in self._devices.values():
            for kept in device.kept.values():
                wait_s = self.resend_after_s * 2 ** min(kept.attempts - 1, 10)
                if now_s - max(kept.sent_s, device.progress_s) >= wait_s:
                    out.append(kept)
        for kept in out:
            kept.sent_s = now_s
            kept.attempts += 1
        return out

    def after_reconnect(self, vins: set[str] | None, now_s: float) -> list[Kept]:
        """Every message kept by ``vins`` (None: every device), oldest first per device: what a
        device sends again once it has reconnected. Each counts as sent now."""
        out = [
            kept
            for vin, device in self._devices.items()
            if vins is None or vin in vins
            for kept in device.kept.values()
        ]
        for kept in out:
            kept.sent_s = now_s
        return out

    def _forget(self, device: _Device, key: Key) -> None:
        device.kept.pop(key)
        boot_id, seq = key
        heap = device.seqs.get(boot_id)
        if heap is not None:
            heap.remove(seq)
            heapq.heapify(heap)
            if not heap:
                device.seqs.pop(boot_id)
        self.kept -= 1

"""A fleet of simulated devices that honour the pipeline's acknowledgements, on a publisher.

Ties :class:`~simulator.publishing.outbox.Outboxes` (what each device keeps) to the MQTT
:class:`~simulator.publishing.publisher.Publisher`: acknowledgements arrive on the publisher's
network threads (:meth:`Downlink.on_downlink`), reconnects are noted there
(:meth:`Downlink.on_reconnect`), and the publishing thread keeps what it sends
(:meth:`Downlink.keep`) and sends again what is due (:meth:`Downlink.resend`), never publishing
while it holds the outboxes' lock.

Until the first acknowledgement arrives nothing is sent again: against a pipeline that sends
none, devices would otherwise send their whole backlog again at every timeout. The end of a run
waits for confirmations all the same (``confirm_timeout_s``); run devices that ignore the
downlink (``acks = "ignore"``) against a bare broker or a pipeline without acknowledgements.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from kernel.acks import AckFormatError, ack_topic_vin, decode_ack
from simulator.publishing.outbox import Kept, Outboxes
from simulator.publishing.publisher import Publisher

# The publishing thread looks for messages due again at most this often.
RESEND_CHECK_S = 0.5
SETTLE_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class DownlinkCounts:
    """What the devices' acknowledgements did over a run."""

    acks: int
    """Acknowledgements received (every copy, on every connection)."""
    confirmed: int
    """Messages an acknowledgement covered."""
    resent: int
    """Publishes of a message sent again (after a reconnect or a timeout)."""
    dropped: int
    """Messages dropped unconfirmed from a full device outbox."""
    unconfirmed: int
    """Messages still kept at the end: not known to be durably handled."""
    bad: int
    """Downlink messages that were not acknowledgements."""


class Downlink:
    """The acknowledgement side of a simulated fleet; thread-safe."""

    def __init__(self, root: str, outboxes: Outboxes) -> None:
        self._root = root
        self._outboxes = outboxes
        self._lock = threading.Lock()
        self._reconnected: set[int] = set()
        self._reconnected_lock = threading.Lock()
        self._topics: dict[str, str] = {}  # vin -> its telemetry topic
        self._last_check_s = 0.0
        self.resent = 0
        self.bad = 0

    @property
    def heard(self) -> bool:
        """Whether an acknowledgement ever arrived (the pipeline sends them)."""
        return self._outboxes.acks > 0

    def on_downlink(self, topic: str, payload: bytes) -> None:
        """An MQTT message on an ack topic (any network thread)."""
        vin = ack_topic_vin(self._root, topic)
        try:
            if vin is None:
                raise AckFormatError(f"not an ack topic: {topic[:80]}")
            ack = decode_ack(vin, payload)
        except AckFormatError:
            with self._lock:
                self.bad += 1
            return
        with self._lock:
            self._outboxes.acknowledge(ack.vin, ack.boot_id, ack.seq, time.monotonic())

    def on_reconnect(self, index: int) -> None:
        """Connection ``index`` is back after a loss (any network thread)."""
        with self._reconnected_lock:
            self._reconnected.add(index)

    def keep(self, vin: str, boot_id: str, seq: int, topic: str, payload: bytes) -> None:
        """A device published a message of its own sequence: keep it until confirmed."""
        with self._lock:
            self._topics[vin] = topic
            self._outboxes.keep(vin, boot_id, seq, topic, payload, time.monotonic())

    def resend(self, publisher: Publisher, stop: threading.Event, *, force: bool = False) -> int:
        """Send again what devices on reconnected connections keep, and what waited too long
        for its confirmation (checked every :data:`RESEND_CHECK_S` unless ``force``); returns how
        many were sent. Returns early (False from the publisher) when ``stop`` is set."""
        now_s = time.monotonic()
        if not force and now_s - self._last_check_s < RESEND_CHECK_S:
            return 0
        self._last_check_s = now_s
        with self._reconnected_lock:
            indexes, self._reconnected = self._reconnected, set()
        with self._lock:
            if not self.heard:
                return 0
            again: list[Kept] = []
            if indexes:
                vins = {
                    vin
                    for vin, topic in self._topics.items()
                    if publisher.connection_of(topic) in indexes
                }
                again = self._outboxes.after_reconnect(vins, now_s)
            seen = {(k.vin, k.boot_id, k.seq) for k in again}
            again += [k for k in self._outboxes.due(now_s) if (k.vin, k.boot_id, k.seq) not in seen]
        sent = 0
        for kept in again:
            if not publisher.publish(kept.topic, kept.payload, stop):
                break
            sent += 1
        with self._lock:
            self.resent += sent
        return sent

    def unconfirmed(self) -> int:
        with self._lock:
            return self._outboxes.kept

    def settle(self, publisher: Publisher, stop: threading.Event, timeout_s: float) -> bool:
        """At the end of a run: wait until every kept message is confirmed, sending again what
        is due, while confirmations keep coming (at most ``timeout_s`` without one). True when
        nothing is left unconfirmed."""
        deadline = time.monotonic() + timeout_s
        confirmed = self.counts().confirmed
        while self.unconfirmed() and not stop.is_set():
            now_s = time.monotonic()
            progress = self.counts().confirmed
            if progress != confirmed:
                confirmed, deadline = progress, now_s + timeout_s
            elif now_s >= deadline:
                return False
            self.resend(publisher, stop)
            stop.wait(SETTLE_POLL_S)
        return self.unconfirmed() == 0

    def counts(self) -> DownlinkCounts:
        with self._lock:
            box = self._outboxes
            return DownlinkCounts(
                box.acks, box.confirmed, self.resent, box.dropped, box.kept, self.bad
            )

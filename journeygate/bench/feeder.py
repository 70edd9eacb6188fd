"""The devices' side of a benchmark: QoS 1 publishes of the bench fleet's messages, fast or paced.

Runs in its own process (``python -m journeygate.bench.feeder '<plan as JSON>'``, printing its
result as one JSON line) so that its CPU never counts against a measured process. It writes
pre-encoded PUBLISH packets on one non-blocking socket and keeps at most ``window`` publishes
unacknowledged; paced, each message is built (and its event time stamped) when it is due.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from journeygate.bench import mqttwire as w
from journeygate.bench.payloads import Fleet, message

KEEPALIVE_S = 60
PING_EVERY_S = 20.0
CHUNK = 2000
OUT_LIMIT_BYTES = 4 << 20
IDLE_WAIT_S = 0.05
TICK_S = 0.005  # a paced feeder sends what is due every 5 ms (each message stamped as it is built)
ACK_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """Publish messages ``first .. first+count-1`` of the fleet under ``{root}/{VIN}/telemetry``;
    ``rate_per_s`` 0 means as fast as the broker acknowledges."""

    broker: Broker
    client_id: str
    root: str
    fleet_size: int
    fleet_tag: int
    first: int
    count: int
    rate_per_s: float = 0.0
    window: int = 20_000
    event_rate: float = 1.0
    """Event seconds per wall second of the messages' time stamps (paced plans only): above 1,
    a fleet's time accelerated, each message stamped as far in the past as makes the last one
    about now (never ahead of the wall clock)."""
    dtcs: tuple[str, ...] = ()
    """Diagnostic codes reported active (none by default): vehicle ``i`` reports them from its
    ``i % rounds``-th message of the plan on (``rounds`` = count / fleet size), so that the
    vehicles' first reports of them are spread evenly over the feed."""


@dataclass(frozen=True, slots=True)
class FeedResult:
    published: int
    acknowledged: int
    elapsed_s: float


def _connect(broker: Broker, client_id: str, *, clean: bool) -> socket.socket:
    sock = socket.create_connection((broker.host, broker.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(
        w.connect(
            client_id,
            clean_session=clean,
            keepalive_s=KEEPALIVE_S,
            username=broker.username,
            password=broker.password,
        )
    )
    _expect(sock, w.CONNACK)
    return sock


def _expect(sock: socket.socket, kind: int) -> bytes:
    buffer = b""
    while True:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("the broker closed the connection")
        buffer += data
        packets, buffer = w.split_packets(buffer)
        for packet_type, body in packets:
            if packet_type == kind:
                if kind == w.CONNACK and not w.connack_ok(body):
                    raise ConnectionError(f"the broker refused the connection: {body!r}")
                return body


def open_session(broker: Broker, client_id: str, topic_filter: str) -> None:
    """Create a persistent QoS 1 session for ``client_id``, then leave: the broker queues what
    is published until that client connects."""
    sock = _connect(broker, client_id, clean=False)
    try:
        sock.sendall(w.subscribe(1, topic_filter))
        body = _expect(sock, w.SUBACK)
        if body[-1:] == b"\x80":
            raise ConnectionError(f"subscription to {topic_filter} refused")
        sock.sendall(w.disconnect())
    finally:
        sock.close()


def dtc_schedule(plan: FeedPlan) -> Callable[[int], tuple[str, ...]]:
    """The codes the plan's ``k``-th message reports (see :attr:`FeedPlan.dtcs`)."""
    if not plan.dtcs:
        return lambda _k: ()
    rounds = max(1, plan.count // plan.fleet_size)

    def codes(k: int) -> tuple[str, ...]:
        index = (plan.first + k) % plan.fleet_size
        return plan.dtcs if k // plan.fleet_size >= index % rounds else ()

    return codes


def feed(plan: FeedPlan) -> FeedResult:
    """Publish the plan's messages; returns when the broker acknowledged every one."""
    fleet = Fleet(plan.fleet_size, plan.fleet_tag)
    codes = dtc_schedule(plan)
    root = plan.root
    sock = _connect(plan.broker, plan.client_id, clean=True)
    sock.setblocking(False)
    out, inbox = bytearray(), b""
    sent = acked = packet_id = 0
    started = last_ping = last_ack = time.monotonic()
    clock = _EventClock(plan)
    try:
        while acked < plan.count:
            now = time.monotonic()
            if sent < plan.count and len(out) < OUT_LIMIT_BYTES:
                due = plan.count if not plan.rate_per_s else int((now - started) * plan.rate_per_s)
                room = plan.window - (sent - acked)
                k = min(due, plan.count) - sent
                k = min(k, room, CHUNK)
                if k > 0:
                    ts_ms = time.time_ns() // 1_000_000
                    for _ in range(k):
                        if clock.accelerated:
                            ts_ms = clock.stamp_ms(sent)
                        vin, body = message(fleet, plan.first + sent, ts_ms, codes(sent))
                        packet_id = packet_id % w.MAX_PACKET_ID + 1
                        out += w.publish_qos1(f"{root}/{vin}/telemetry".encode(), packet_id, body)
                        sent += 1
            if now - last_ping >= PING_EVERY_S:
                out += w.pingreq()
                last_ping = now
            if now - last_ack > ACK_TIMEOUT_S:
                raise TimeoutError(f"no PUBACK for {ACK_TIMEOUT_S:g} s ({sent - acked} waiting)")
            wait = 0.0 if out else IDLE_WAIT_S
            if not out and plan.rate_per_s and sent < plan.count:
                wait = min(IDLE_WAIT_S, max(TICK_S, (sent + 1) / plan.rate_per_s - (now - started)))
            readable, writable, _ = select.select([sock], [sock] if out else [], [], wait)
            if writable:
                try:
                    n = sock.send(out)
                except BlockingIOError:
                    n = 0
                del out[:n]
            if readable:
                data = sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("the broker closed the connection")
                packets, inbox = w.split_packets(inbox + data)
                got = sum(1 for kind, _ in packets if kind == w.PUBACK)
                if got:
                    acked += got
                    last_ack = time.monotonic()
        sock.setblocking(True)
        sock.sendall(w.disconnect())
    finally:
        sock.close()
    return FeedResult(sent, acked, time.monotonic() - started)


class _EventClock:
    """The time stamps of a plan's messages: the wall clock when built, or accelerated
    (``event_rate``): message ``n`` is stamped at its planned send time, ``n / rate_per_s``
    after the start, as that many accelerated seconds, counted back from the planned end. A
    message is never built before its planned time, so its stamp is never ahead of the clock."""

    def __init__(self, plan: FeedPlan) -> None:
        self._rate = plan.event_rate if plan.rate_per_s and plan.event_rate > 1 else 1.0
        self._ms_per_msg = 1000.0 / plan.rate_per_s * self._rate if plan.rate_per_s else 0.0
        planned_ms = plan.count * 1000.0 / plan.rate_per_s if plan.rate_per_s else 0.0
        self._zero_ms = time.time_ns() // 1_000_000 - planned_ms * (self._rate - 1.0)

    @property
    def accelerated(self) -> bool:
        return self._rate != 1.0

    def stamp_ms(self, sent: int) -> int:
        """The event time of the plan's message number ``sent`` (0 the first)."""
        return round(self._zero_ms + sent * self._ms_per_msg)


def plan_from_json(text: str) -> FeedPlan:
    data = json.loads(text)
    data["broker"] = Broker(**data["broker"])
    data["dtcs"] = tuple(data.get("dtcs", ()))
    return FeedPlan(**data)


def plan_to_json(plan: FeedPlan) -> str:
    return json.dumps(asdict(plan))


def main(argv: list[str]) -> int:
    result = feed(plan_from_json(argv[1]))
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

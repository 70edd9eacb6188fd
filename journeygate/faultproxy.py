"""A TCP proxy that stands between a stage and one of its servers and breaks the link on demand.

The fault tests and ``journeygate soak`` point a stage at the proxy instead of its server (the
MQTT broker, the Kafka-protocol broker, PostgreSQL) and change what the proxy does while the
pipeline runs. What a fault does to the connections in its scope:

- **pass**: bytes flow unchanged.
- **pause**: bytes are held, not dropped: the proxy stops forwarding them (and, once its small
  buffer is full, stops reading, so the sender's own TCP window fills up). Connections stay open;
  both ends see silence, as behind a frozen router, until their own timeouts act. Restoring
  delivers what was held, in order.
- **cut**: a partition as the stage sees it: every connection is reset (RST to both ends) and
  every new one is reset as soon as it is accepted, until the fault is lifted. To the client it
  is a server whose port refuses connections.
- **delay**: a fixed latency added to each chunk of bytes, in each direction (a long link);
  order and throughput are kept, up to the proxy's buffer.
- **lossy**: what a lossy link does to TCP. TCP never loses bytes silently: a lost segment is
  sent again after a retransmission timeout, so the stream stalls (everything behind the lost
  segment waits, head-of-line), and a link bad enough makes connections fail (a peer gives up
  and resets). So a lossy link is modelled as: a base latency with jitter; each chunk, with a
  given probability, stalls the stream for a retransmission time (200 ms to 1 s by default);
  and each connection is reset at random times (a Poisson process with a given mean interval).
  The draws come from a seeded generator (their order follows the traffic, so a rerun repeats
  the same kind of link, not the same bytes).

**Scope.** A proxy may apply its faults to some connections only: ``scope(peer)`` decides, once
per connection when it is accepted, from the client's address. Connections outside the scope
always pass. This is how one stage's link to Kafka is broken while the other stages use the same
broker through the same proxy: a Kafka client connects to the address the broker advertises, so
every client of a broker whose advertised address is the proxy goes through it, and
:func:`pid_scope` picks the connections a given process holds (Linux, from ``/proc``).

:class:`FaultProxy` runs on an asyncio event loop; :class:`ProxyThread` runs one on a loop of its
own in a background thread, for synchronous callers (tests, the soak command):
``ProxyThread(FaultProxy("127.0.0.1", 5432)).start()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self, TypeVar

log = logging.getLogger("journeygate.faultproxy")

CHUNK_BYTES = 64 * 1024
"""The most bytes read from one end at a time: one chunk is one unit of delay and stall."""
BUFFER_CHUNKS = 64
"""Chunks held per direction of a connection before the proxy stops reading from the sender."""
RESET_TICK_S = 0.1
"""How often a lossy proxy draws whether to reset each connection."""

Peer = tuple[str, int]
Scope = Callable[[Peer], bool]
T = TypeVar("T")


class Mode(enum.Enum):
    PASS = "pass"
    PAUSE = "pause"
    CUT = "cut"
    DELAY = "delay"
    LOSSY = "lossy"


@dataclass(frozen=True, slots=True)
class Fault:
    """What the proxy does to the connections in its scope (see the module docstring)."""

    mode: Mode = Mode.PASS
    delay_ms: float = 0.0
    """``delay`` and ``lossy``: latency added to each chunk, in each direction."""
    jitter_ms: float = 0.0
    """``lossy``: a further latency drawn between 0 and this, per chunk (order is kept)."""
    stall_probability: float = 0.0
    """``lossy``: the chance that a chunk waits for a retransmission first."""
    stall_ms: tuple[float, float] = (200.0, 1000.0)
    """``lossy``: the range of a retransmission wait."""
    reset_mean_s: float = 0.0
    """``lossy``: mean time between resets of a connection; 0: never reset."""

    def __post_init__(self) -> None:
        for name in ("delay_ms", "jitter_ms", "reset_mean_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0.0 <= self.stall_probability <= 1.0:
            raise ValueError("stall_probability must be between 0 and 1")
        low, high = self.stall_ms
        if not 0 <= low <= high:
            raise ValueError("stall_ms must be (low, high) with 0 <= low <= high")

    @classmethod
    def passing(cls) -> Fault:
        return cls(Mode.PASS)

    @classmethod
    def paused(cls) -> Fault:
        return cls(Mode.PAUSE)

    @classmethod
    def cut(cls) -> Fault:
        return cls(Mode.CUT)

    @classmethod
    def delayed(cls, delay_ms: float) -> Fault:
        return cls(Mode.DELAY, delay_ms=delay_ms)

    @classmethod
    def lossy(
        cls,
        *,
        delay_ms: float = 20.0,
        jitter_ms: float = 30.0,
        stall_probability: float = 0.05,
        stall_ms: tuple[float, float] = (200.0, 1000.0),
        reset_mean_s: float = 5.0,
    ) -> Fault:
        return cls(
            Mode.LOSSY,
            delay_ms=delay_ms,
            jitter_ms=jitter_ms,
            stall_probability=stall_probability,
            stall_ms=stall_ms,
            reset_mean_s=reset_mean_s,
        )

    def describe(self) -> str:
        """A short text for logs and reports, e.g. ``lossy 20+30 ms, 5 % stalls, reset ~5 s``."""
        if self.mode is Mode.DELAY:
            return f"delay {self.delay_ms:g} ms"
        if self.mode is Mode.LOSSY:
            resets = f", reset ~{self.reset_mean_s:g} s" if self.reset_mean_s else ""
            return (
                f"lossy {self.delay_ms:g}+{self.jitter_ms:g} ms,"
                f" {self.stall_probability:.0%} stalls{resets}"
            )
        return str(self.mode.value)


@dataclass(slots=True)
class ProxyStats:
    """Counters since the proxy started."""

    accepted: int = 0
    """Connections accepted (in and out of scope)."""
    in_scope: int = 0
    """Of those, connections the faults applied to."""
    active: int = 0
    resets: int = 0
    """Connections the proxy reset (cut, lossy, or refused while cut)."""
    upstream_failures: int = 0
    """Connections closed because the server could not be reached."""
    bytes_up: int = 0
    """Bytes forwarded from clients to the server."""
    bytes_down: int = 0
    """Bytes forwarded from the server to clients."""


@dataclass(eq=False, slots=True)
class _Link:
    """One proxied connection: the client's end and the server's end."""

    client: asyncio.StreamWriter
    peer: Peer
    in_scope: bool
    server: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    last_due: dict[str, float] = field(default_factory=dict)
    closed: bool = False


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s socket with a TCP RST (no orderly FIN), as a failing peer does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forwards ``listen_host:listen_port`` to ``target_host:target_port``; :meth:`set_fault`
    changes what happens to the connections in scope. Use it from its event loop only."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        scope: Scope | None = None,
        seed: int = 0,
        name: str = "proxy",
    ) -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self._listen_port = listen_port
        self.scope = scope
        self.name = name
        self.stats = ProxyStats()
        self._fault = Fault.passing()
        self._rng = random.Random(seed)
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._reset_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port the proxy listens on (chosen by the system when 0 was asked)."""
        if self._server is None:
            return self._listen_port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def address(self) -> str:
        """``host:port`` of the proxy, as a client names it."""
        return f"{self.listen_host}:{self.port}"

    @property
    def fault(self) -> Fault:
        return self._fault

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.listen_host, self._listen_port, reuse_address=True
        )

    async def close(self) -> None:
        """Stop listening and close every connection (with a RST)."""
        if self._reset_task is not None:
            self._reset_task.cancel()
            self._reset_task = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            self._drop(link)
        await asyncio.sleep(0)

    def set_fault(self, fault: Fault) -> None:
        """Apply ``fault`` from now on to the connections in scope (and to new ones).

        With a scope, the open connections are classified again first: what the scope names
        may have changed since they were accepted (another stage's link is to be broken)."""
        if self.scope is not None:
            for link in self._links:
                try:
                    link.in_scope = self.scope(link.peer)
                except Exception:  # a scope that fails applies the faults
                    log.exception(
                        "%s: scope of %s failed; faults apply to it", self.name, link.peer
                    )
                    link.in_scope = True
        previous, self._fault = self._fault, fault
        if fault.mode is Mode.PAUSE:
            self._flowing.clear()
        else:
            self._flowing.set()
        if fault.mode is Mode.CUT:
            for link in [lk for lk in self._links if lk.in_scope]:
                self._drop(link)
        if fault.mode is Mode.LOSSY and fault.reset_mean_s > 0:
            if self._reset_task is None:
                self._reset_task = asyncio.get_running_loop().create_task(self._reset_loop())
        elif self._reset_task is not None:
            self._reset_task.cancel()
            self._reset_task = None
        if fault != previous:
            log.info("%s: %s -> %s", self.name, previous.describe(), fault.describe())

    # --- connections ---------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        peer: Peer = writer.get_extra_info("peername")[:2]
        in_scope = True
        if self.scope is not None:
            try:
                in_scope = await asyncio.to_thread(self.scope, peer)
            except Exception:  # a scope that fails applies the faults
                log.exception("%s: scope of %s failed; faults apply to it", self.name, peer)
        link = _Link(writer, peer, in_scope)
        self.stats.in_scope += in_scope
        if in_scope and self._fault.mode is Mode.CUT:
            self.stats.resets += 1
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.stats.upstream_failures += 1
            _reset(writer)
            return
        if in_scope and self._fault.mode is Mode.CUT:  # cut while connecting
            self.stats.resets += 1
            _reset(writer)
            _reset(up_writer)
            return
        link.server = up_writer
        self._links.add(link)
        self.stats.active += 1
        loop = asyncio.get_running_loop()
        link.tasks = [
            loop.create_task(self._pump(link, reader, up_writer, "up")),
            loop.create_task(self._pump(link, up_reader, writer, "down")),
        ]
        for task in link.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._forget(link)
        if not link.closed:
            link.closed = True
            for end in (writer, up_writer):
                end.close()

    async def _pump(
        self,
        link: _Link,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        direction: str,
    ) -> None:
        """Copy ``source`` to ``sink`` through a bounded queue of (due time, chunk)."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(BUFFER_CHUNKS)
        writer = asyncio.get_running_loop().create_task(self._deliver(link, queue, sink, direction))
        try:
            while True:
                try:
                    data = await source.read(CHUNK_BYTES)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    await queue.put(None)
                    break
                await queue.put((self._due(link, direction), data))
            await writer
        except asyncio.CancelledError:
            writer.cancel()
            raise
        except (ConnectionError, OSError):
            writer.cancel()
        if not link.closed:
            # One end is gone: end the other one too (these protocols do not half-close).
            self._drop(link, orderly=True)

    async def _deliver(
        self,
        link: _Link,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        sink: asyncio.StreamWriter,
        direction: str,
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await queue.get()
            if item is None:
                return
            due, data = item
            wait_s = due - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            if link.in_scope:
                await self._flowing.wait()
            if link.closed:
                return
            sink.write(data)
            if direction == "up":
                self.stats.bytes_up += len(data)
            else:
                self.stats.bytes_down += len(data)
            await sink.drain()

    def _due(self, link: _Link, direction: str) -> float:
        """When a chunk read now may be forwarded: now plus the fault's latency, never before
        the chunk ahead of it (a TCP stream keeps its order)."""
        now = asyncio.get_running_loop().time()
        fault = self._fault
        latency_s = 0.0
        if link.in_scope and fault.mode in (Mode.DELAY, Mode.LOSSY):
            latency_s = fault.delay_ms / 1000
            if fault.mode is Mode.LOSSY:
                latency_s += self._rng.uniform(0, fault.jitter_ms) / 1000
                if self._rng.random() < fault.stall_probability:
                    latency_s += self._rng.uniform(*fault.stall_ms) / 1000
        due = max(now + latency_s, link.last_due.get(direction, 0.0))
        link.last_due[direction] = due
        return due

    def _drop(self, link: _Link, *, orderly: bool = False) -> None:
        """End a connection: with a RST to both ends, or (``orderly``) a normal close."""
        if link.closed:
            return
        link.closed = True
        if not orderly:
            self.stats.resets += 1
        for end in (link.client, link.server):
            if end is None:
                continue
            if orderly:
                end.close()
            else:
                _reset(end)
        current = asyncio.current_task()
        for task in link.tasks:
            if task is not current:
                task.cancel()
        self._forget(link)

    def _forget(self, link: _Link) -> None:
        if link in self._links:
            self._links.discard(link)
            self.stats.active -= 1

    async def _reset_loop(self) -> None:
        """While lossy: reset each connection in scope with probability tick / mean."""
        while True:
            await asyncio.sleep(RESET_TICK_S)
            mean_s = self._fault.reset_mean_s
            if self._fault.mode is not Mode.LOSSY or mean_s <= 0:
                continue
            for link in [lk for lk in self._links if lk.in_scope]:
                if self._rng.random() < RESET_TICK_S / mean_s:
                    self._drop(link)


class ProxyThread:
    """A :class:`FaultProxy` on an event loop of its own in a daemon thread, driven from
    synchronous code. ``with ProxyThread(FaultProxy(...)) as proxy:`` starts and closes it."""

    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.name = proxy.name

    def start(self) -> Self:
        ready = threading.Event()
        failure: list[BaseException] = []

        proxy = self._proxy

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(proxy.start())
                self._loop = loop
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(proxy.close())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"faultproxy-{self.name}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def _call(self, fn: Callable[[FaultProxy], T]) -> T:
        if self._loop is None:
            raise RuntimeError(f"proxy {self.name} is not running")
        proxy = self._proxy

        async def call() -> T:
            return fn(proxy)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    @property
    def port(self) -> int:
        return self._call(lambda p: p.port)

    @property
    def address(self) -> str:
        return self._call(lambda p: p.address)

    @property
    def fault(self) -> Fault:
        return self._call(lambda p: p.fault)

    def set_fault(self, fault: Fault) -> None:
        self._call(lambda p: p.set_fault(fault))

    def restore(self) -> None:
        """Back to passing bytes unchanged."""
        self.set_fault(Fault.passing())

    def stats(self) -> ProxyStats:
        return self._call(lambda p: replace(p.stats))

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already stopped
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- scope by process ----------------------------------------------------------------------------


def _proc_address(host: str, port: int) -> str:
    """``127.0.0.1:5432`` as ``/proc/net/tcp`` writes it: ``0100007F:1538``."""
    packed = socket.inet_aton(host)
    return f"{struct.unpack('<I', packed)[0]:08X}:{port:04X}"


def socket_inodes(peer: Peer) -> frozenset[int]:
    """The inodes of the IPv4 TCP sockets whose local address is ``peer`` (Linux)."""
    try:
        with open("/proc/net/tcp") as table:
            return inodes_in_table(table, peer)
    except OSError:
        return frozenset()


def inodes_in_table(rows: Iterable[str], peer: Peer) -> frozenset[int]:
    """:func:`socket_inodes` in the lines of ``/proc/net/tcp`` (its header first). Several
    sockets may share a local address: a connection from that port closed before (TIME_WAIT,
    held by no process: inode 0, left out) or one to another server from the same port."""
    wanted = _proc_address(*peer)
    lines = iter(rows)
    next(lines, None)
    found = set()
    for row in lines:
        fields = row.split()
        if len(fields) > 9 and fields[1] == wanted and fields[9].isdigit() and int(fields[9]):
            found.add(int(fields[9]))
    return frozenset(found)


def socket_owner(peer: Peer, pids: Iterable[int]) -> int | None:
    """Which of ``pids`` holds a TCP socket whose local address is ``peer``: the process at
    the other end of a connection the proxy accepted from ``peer`` (Linux), or None."""
    targets = {f"socket:[{inode}]" for inode in socket_inodes(peer)}
    if not targets:
        return None
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            with contextlib.suppress(OSError):
                if os.readlink(f"{fd_dir}/{name}") in targets:
                    return pid
    return None


def pid_scope(pids: Callable[[], Iterable[int]]) -> Scope:
    """A scope of the connections held by the processes ``pids()`` names when a connection is
    accepted (a callable, so that a restarted stage's new process is found)."""

    def scope(peer: Peer) -> bool:
        # The client's socket exists (in /proc/net/tcp and in its process's descriptors) from
        # before its connect() completed, so by the time the proxy accepts it.
        return socket_owner(peer, list(pids())) is not None

    return scope

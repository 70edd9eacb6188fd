"""The fault proxy against a real TCP echo server: each fault as a client sees it."""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from journeygate.embedded.procs import free_port
from journeygate.faultproxy import Fault, FaultProxy, ProxyThread, pid_scope, socket_owner

pytestmark = pytest.mark.integration


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        while data := sock.recv(65536):
            sock.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[int]:
    server = EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: int) -> Iterator[ProxyThread]:
    with ProxyThread(FaultProxy("127.0.0.1", echo, seed=1, name="echo")) as running:
        yield running


def connect(port: int, timeout_s: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def receive(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def round_trip_s(sock: socket.socket, payload: bytes) -> float:
    started = time.monotonic()
    sock.sendall(payload)
    assert receive(sock, len(payload)) == payload
    return time.monotonic() - started


def reset_at_once(port: int) -> bool:
    """A new connection through the proxy is reset: at once (its RST may beat the end of
    ``connect`` itself), or at its first exchange."""
    try:
        sock = connect(port)
    except ConnectionResetError:
        return True
    with sock:
        return is_reset(sock)


def is_reset(sock: socket.socket) -> bool:
    """True once the connection was reset or closed by the other end."""
    try:
        sock.sendall(b"x")
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_pass_forwards_both_ways_and_counts_bytes(proxy: ProxyThread) -> None:
    payload = os.urandom(300_000)
    with connect(proxy.port) as sock:
        assert round_trip_s(sock, payload) < 2
    stats = proxy.stats()
    assert stats.accepted == stats.in_scope == 1
    assert stats.bytes_up == stats.bytes_down == len(payload)
    assert stats.resets == 0


def test_pause_holds_bytes_and_restore_delivers_them_in_order(proxy: ProxyThread) -> None:
    with connect(proxy.port) as sock:
        assert round_trip_s(sock, b"before") < 1
        proxy.set_fault(Fault.paused())
        sock.settimeout(0.8)
        sent = b"".join(f"{n:06d}".encode() for n in range(2000))
        sock.sendall(sent)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # held, not forwarded
        proxy.restore()
        sock.settimeout(5)
        assert receive(sock, len(sent)) == sent
    assert proxy.stats().resets == 0


def test_cut_resets_open_connections_and_refuses_new_ones_until_restored(
    proxy: ProxyThread,
) -> None:
    with connect(proxy.port) as open_before:
        assert round_trip_s(open_before, b"hello") < 1
        proxy.set_fault(Fault.cut())
        assert is_reset(open_before)
    assert reset_at_once(proxy.port)
    proxy.restore()
    with connect(proxy.port) as after:
        assert round_trip_s(after, b"again") < 1
    assert proxy.stats().resets == 2


def test_delay_adds_latency_each_way_and_keeps_order(proxy: ProxyThread) -> None:
    with connect(proxy.port) as sock:
        fast = round_trip_s(sock, b"ping")
        proxy.set_fault(Fault.delayed(150))
        slow = round_trip_s(sock, b"ping")
        stream = os.urandom(1_000_000)
        sender = threading.Thread(target=sock.sendall, args=(stream,))
        sender.start()
        echoed = receive(sock, len(stream))
        sender.join()
    assert fast < 0.1
    assert 0.3 <= slow < 0.3 + 0.5  # 150 ms up, 150 ms down
    assert echoed == stream


def test_lossy_stalls_the_stream_and_resets_connections(echo: int) -> None:
    stalls = Fault.lossy(
        delay_ms=0, jitter_ms=0, stall_probability=1.0, stall_ms=(250, 250), reset_mean_s=0
    )
    with ProxyThread(FaultProxy("127.0.0.1", echo, seed=3)) as proxy, connect(proxy.port) as sock:
        proxy.set_fault(stalls)
        assert round_trip_s(sock, b"ping") >= 0.5  # a retransmission wait each way
        proxy.set_fault(Fault.lossy(delay_ms=5, jitter_ms=5, reset_mean_s=0.3))
        deadline = time.monotonic() + 10
        while not is_reset(sock):
            assert time.monotonic() < deadline, "the lossy link never reset the connection"
            time.sleep(0.05)
        assert proxy.stats().resets >= 1


def test_lossy_link_delivers_every_byte_of_a_connection_it_does_not_reset(
    proxy: ProxyThread,
) -> None:
    proxy.set_fault(Fault.lossy(delay_ms=2, jitter_ms=10, stall_probability=0.2, reset_mean_s=0))
    stream = b"".join(f"{n:08d}".encode() for n in range(100_000))
    with connect(proxy.port, timeout_s=30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(stream,))
        sender.start()
        echoed = receive(sock, len(stream))
        sender.join()
    assert echoed == stream


def test_an_unreachable_server_resets_the_client(echo: int) -> None:
    nowhere = free_port()
    with ProxyThread(FaultProxy("127.0.0.1", nowhere)) as proxy:
        assert reset_at_once(proxy.port)
        assert proxy.stats().upstream_failures == 1


def test_a_pid_scope_breaks_only_the_connections_of_the_processes_it_names(
    echo: int,
) -> None:
    mine = os.getpid()
    with ProxyThread(FaultProxy("127.0.0.1", echo, scope=pid_scope(lambda: [mine]))) as proxy:
        with connect(proxy.port) as own:
            assert round_trip_s(own, b"mine") < 1
            assert socket_owner(own.getsockname()[:2], [mine]) == mine
            proxy.set_fault(Fault.cut())
            assert is_reset(own)
        # Another process's connection is out of scope: it passes while the cut lasts.
        script = (
            "import socket, sys\n"
            f"s = socket.create_connection(('127.0.0.1', {proxy.port}), timeout=5)\n"
            "s.sendall(b'other')\n"
            "got = b''\n"
            "while len(got) < 5:\n"
            "    got += s.recv(5)\n"
            "sys.stdout.write(got.decode())\n"
        )
        other = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=False
        )
        assert other.returncode == 0 and other.stdout == "other", other.stderr
        stats = proxy.stats()
        assert stats.accepted == 2 and stats.in_scope == 1

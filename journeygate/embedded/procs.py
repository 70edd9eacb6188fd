"""Child processes that never outlive their parent: start, wait for a port, stop cleanly."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from kernel.errors import InfrastructureError

_PR_SET_PDEATHSIG = 1


_LOWEST_PORT = 10_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    """The first port the kernel hands out to outgoing connections (32768 if unknown)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now, drawn below the kernel's ephemeral range:
    a port from that range (what binding port 0 gives) may be taken as the local port of any
    outgoing connection before the server it was picked for binds it."""
    low = _ephemeral_low()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        for _ in range(200) if low > _LOWEST_PORT + 1000 else ():
            port = random.randrange(_LOWEST_PORT, low)
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
        sock.bind((host, 0))
        found: int = sock.getsockname()[1]
        return found


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM this child when the process that started it dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """A supervised child process with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        kwargs: dict[str, Any] = {}
        if user is not None:
            kwargs["user"] = user
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,
            **kwargs,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_port(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        """Block until ``host:port`` accepts connections; fail if the child exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise InfrastructureError(
                    f"{self.name} exited with status {self.proc.returncode}: {self.log_tail(5)}"
                )
            with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
                return
            time.sleep(0.05)
        raise InfrastructureError(f"{self.name} did not listen on {host}:{port} in {timeout_s}s")

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def ask_to_stop(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` without waiting (see :meth:`stop`)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def stop(
        self, timeout_s: float = 10.0, sig: int = signal.SIGTERM, *, asked: bool = False
    ) -> int | None:
        """Ask the child to stop (unless ``asked`` already), wait, then SIGKILL it if it did
        not."""
        if self.alive():
            if not asked:
                self.ask_to_stop(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

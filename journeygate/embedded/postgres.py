"""A private PostgreSQL server from the binaries shipped in the ``pgserver`` wheel.

It listens on a free loopback port, keeps its data in a directory of ours and is stopped (fast
shutdown) with the stack. PostgreSQL refuses to run as root, so as root the server runs as the
unprivileged ``pgserver`` user, which the pgserver package creates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import psycopg

from journeygate.embedded.procs import Child, free_port
from kernel.errors import InfrastructureError

SYSTEM_USER = "pgserver"
READY_TIMEOUT_S = 60.0
"""How long a started server may take to accept sessions (initdb not counted)."""


def wait_until_accepting(url: str, alive: Callable[[], bool], deadline: float) -> None:
    """Block until the PostgreSQL server at ``url`` opens a session, or raise a one-line
    :class:`InfrastructureError` once ``alive()`` is false or ``time.monotonic()`` passes
    ``deadline``. A server listens before it takes sessions (it answers "the database system
    is starting up" meanwhile, longer on a loaded machine or after a crash), so an open port
    alone is not ready."""
    last = "no answer"
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            text = str(exc).strip()
            last = text.splitlines()[-1].strip() if text else type(exc).__name__
        if not alive():
            raise InfrastructureError(f"postgres exited before accepting sessions: {last}")
        if time.monotonic() >= deadline:
            raise InfrastructureError(f"postgres did not accept sessions in time: {last}")
        time.sleep(0.05)


_CAUSES = ("PANIC", "FATAL", "ERROR", "error:")


def initdb_failure(stderr: str) -> str:
    """One line for a failed initdb: the first line naming an error (the cause; what follows
    it is often only initdb cleaning up) and, when it differs, the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "initdb failed with no output"
    cause = next((line for line in lines if any(word in line for word in _CAUSES)), lines[-1])
    text = cause[:300]
    if lines[-1] != cause:
        text += f" (then: {lines[-1][:200]})"
    return f"initdb failed: {text}"


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # pgserver's import looks up an XDG runtime directory it does not need here.
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.pgdata = root / "pgdata"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.durable = durable
        self.child: Child | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(SYSTEM_USER)
        bins = _bin_dir()
        ensure_prefix_permissions(bins)
        ensure_folder_permissions(bins, 0o555)
        ensure_folder_permissions(bins.parent / "lib", 0o444)
        ensure_folder_permissions(bins.parent / "share", 0o444)
        ensure_prefix_permissions(self.root)
        shutil.chown(self.root, SYSTEM_USER)
        return SYSTEM_USER

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        bins = _bin_dir()
        if not (self.pgdata / "PG_VERSION").exists():
            result = subprocess.run(
                [
                    str(bins / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ],
                capture_output=True,
                text=True,
                user=user,
                check=False,
            )
            if result.returncode != 0:
                raise InfrastructureError(initdb_failure(result.stderr))
        # TCP on loopback only: no Unix-domain socket, whose path must fit in 107 bytes and would
        # not under a deep data directory.
        argv = [
            str(bins / "postgres"),
            "-D",
            str(self.pgdata),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-k",
            "",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
            "-c",
            "timezone=UTC",
            "-c",
            "log_timezone=UTC",
        ]
        if not self.durable:
            argv += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        log = self.root / "postgres.log"
        log.touch()
        if user is not None:
            shutil.chown(log, user)
        deadline = time.monotonic() + READY_TIMEOUT_S
        child = self.child = Child("postgres", argv, log_path=log, user=user)
        child.wait_for_port(self.host, self.port, timeout_s=READY_TIMEOUT_S)
        wait_until_accepting(self.admin_url, child.alive, deadline)

    def stop(self) -> None:
        if self.child is not None:
            # SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
            import signal

            self.child.stop(timeout_s=30, sig=signal.SIGINT)
            self.child = None

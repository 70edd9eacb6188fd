"""The embedded PostgreSQL is ready when it takes a session, not when its port opens."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from journeygate.embedded.postgres import EmbeddedPostgres, wait_until_accepting
from kernel.errors import InfrastructureError
from kernel.settings import Settings

pytestmark = pytest.mark.integration

SSL_REQUEST, GSS_REQUEST = 80877103, 80877104
STARTING_UP = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


class StartingUp:
    """A listener that answers every session as a PostgreSQL still starting does (SQLSTATE
    57P03, after declining encryption), counting the sessions asked for."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sessions = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                while True:
                    size = int.from_bytes(_read(conn, 4), "big")
                    code = int.from_bytes(_read(conn, size - 4)[:4], "big")
                    if code in (SSL_REQUEST, GSS_REQUEST):
                        conn.sendall(b"N")
                        continue
                    self.sessions += 1
                    conn.sendall(b"E" + (len(STARTING_UP) + 4).to_bytes(4, "big") + STARTING_UP)
                    break


@pytest.fixture
def starting_up() -> Iterator[StartingUp]:
    server = StartingUp()
    server.thread.start()
    yield server
    # shutdown() wakes the thread blocked in accept(); close() alone would leave it waiting
    with contextlib.suppress(OSError):
        server.server.shutdown(socket.SHUT_RDWR)
    server.server.close()
    server.thread.join(timeout=5)
    assert not server.thread.is_alive()


def test_a_server_still_starting_up_is_not_ready(starting_up: StartingUp) -> None:
    url = f"postgresql://postgres@127.0.0.1:{starting_up.port}/postgres"
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match=r"did not accept sessions in time.*starting up"):
        wait_until_accepting(url, lambda: True, started + 0.5)
    assert time.monotonic() - started >= 0.5
    assert starting_up.sessions >= 2  # it kept asking


def test_a_server_that_exits_while_starting_ends_the_wait_at_once(
    starting_up: StartingUp,
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{starting_up.port}/postgres"
    with pytest.raises(InfrastructureError, match=r"exited before accepting sessions.*starting up"):
        wait_until_accepting(url, lambda: False, time.monotonic() + 30)
    assert starting_up.sessions == 1


def test_a_server_taking_sessions_is_ready(settings: Settings) -> None:
    wait_until_accepting(settings.database_url, lambda: True, time.monotonic() + 10)


def test_a_data_directory_initdb_refuses_is_one_line_naming_why(tmp_path: Path) -> None:
    """A real initdb's failure: the line names the cause, not initdb's clean-up after it."""
    server = EmbeddedPostgres(tmp_path / "pg")
    server.pgdata.mkdir(parents=True)
    (server.pgdata / "left-over").write_text("not a cluster\n")
    with pytest.raises(InfrastructureError) as caught:
        server.start()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("initdb failed:") and "exists but is not empty" in message
    assert server.child is None  # no server was started on it

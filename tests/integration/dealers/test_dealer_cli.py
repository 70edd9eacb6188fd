"""``journeygate dealers add|rotate-key`` against a real PostgreSQL: a key printed once, alone on
standard output, only its hash stored; an unknown dealer or a bad id is one line, non-zero."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from dealers.cli import register
from dealers.keys import hash_key, looks_like_key
from dealers.store import authenticate
from kernel.settings import Settings

pytestmark = pytest.mark.integration


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a group, so that `dealers ...` is a sub-command
    register(app)
    return app


def test_add_then_rotate_prints_a_new_key_and_revokes_the_old(settings: Settings) -> None:
    runner = CliRunner()
    url = ["--database-url", settings.database_url]
    added = runner.invoke(cli(), ["dealers", "add", "DLR-9", "--name", "Nine Motors", *url])
    assert added.exit_code == 0, added.output
    key = added.stdout.strip()
    assert looks_like_key(key) and added.stdout.count("\n") == 1
    assert key not in added.stderr and "DLR-9 created" in added.stderr

    again = runner.invoke(cli(), ["dealers", "add", "DLR-9", *url])
    assert again.exit_code == 0 and "DLR-9 exists" in again.stderr
    second = again.stdout.strip()
    assert looks_like_key(second) and second != key

    rotated = runner.invoke(cli(), ["dealers", "rotate-key", "DLR-9", *url])
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip()
    assert looks_like_key(new) and new not in (key, second)
    assert "2 key(s) revoked" in rotated.stderr

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert authenticate(conn, hash_key(key)) is None
        assert authenticate(conn, hash_key(second)) is None
        caller = authenticate(conn, hash_key(new))
        assert caller is not None and caller.dealer_id == "DLR-9"
        name = conn.execute("SELECT name FROM dealers WHERE dealer_id = 'DLR-9'").fetchone()
        assert name == ("Nine Motors",)
        stored = conn.execute("SELECT key_hash FROM dealer_keys").fetchall()
    assert len(stored) == 3
    hashes = {bytes(h[0]) for h in stored}
    assert hashes == {hash_key(k) for k in (key, second, new)}


def test_an_unknown_dealer_or_a_bad_id_is_one_line(settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "journeygate", "dealers", "rotate-key", "DLR-NONE",
         "--database-url", settings.database_url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "DLR-NONE" in result.stderr
    assert "Traceback" not in result.stderr

    runner = CliRunner()
    bad = runner.invoke(cli(), ["dealers", "add", "no spaces", "--database-url",
                                settings.database_url])  # fmt: skip
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "DEALER_ID" in bad.stderr


def test_journeygate_api_serves_over_http(settings: Settings) -> None:
    import time

    import httpx

    from journeygate.embedded.procs import free_port

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        from dealers.store import add_dealer

        key = add_dealer(conn, "DLR-H", None).key
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "journeygate", "api", "--port", str(port), "--database-url",
         settings.database_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                doc = httpx.get(f"{base}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.1)
        assert doc.status_code == 200 and "/v1/alerts" in doc.json()["paths"]
        page = httpx.get(f"{base}/v1/alerts", headers={"Authorization": f"Bearer {key}"})
        assert page.status_code == 200 and page.json() == {"items": [], "next_cursor": None}
        assert httpx.get(f"{base}/v1/alerts").status_code == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert key not in err


def test_journeygate_api_refuses_bad_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "journeygate", "api", "--burst", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--burst" in result.stderr and "Traceback" not in result.stderr

"""The command line as a user meets it: help, bad input and unreachable servers give one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from journeygate.embedded.procs import free_port

pytestmark = pytest.mark.integration


def run_cli(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeygate", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("migrate", "topics", "bridge", "process", "simulate", "demo"):
        assert command in result.stdout
    process = run_cli("process", "--help")
    assert "normalize" in process.stdout and "store" in process.stdout


def test_unknown_flag_is_a_usage_error_without_traceback() -> None:
    result = run_cli("bridge", "--no-such-flag")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--no-such-flag" in result.stderr


def test_bad_setting_value_is_one_line() -> None:
    result = run_cli("migrate", "--database-url", "mysql://nowhere/db")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "database_url" in lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ("migrate", "--database-url", "postgresql://postgres@127.0.0.1:{port}/x"),
        ("topics", "--kafka-bootstrap", "127.0.0.1:{port}"),
        (
            "process",
            "store",
            "--kafka-bootstrap",
            "127.0.0.1:{port}",
            "--database-url",
            "postgresql://postgres@127.0.0.1:{port}/x",
        ),
        (
            "process",
            "normalize",
            "--kafka-bootstrap",
            "127.0.0.1:{port}",
            "--database-url",
            "postgresql://postgres@127.0.0.1:{port}/x",
        ),
        (
            "bridge",
            "--kafka-bootstrap",
            "127.0.0.1:{port}",
            "--mqtt-url",
            "mqtt://127.0.0.1:{port}",
        ),
    ],
)
def test_unreachable_server_is_one_line(command: tuple[str, ...]) -> None:
    port = free_port()
    result = run_cli(*(part.format(port=port) for part in command))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.strip().splitlines() if "journeygate" in line]
    assert errors and "cannot reach" in errors[-1], result.stderr

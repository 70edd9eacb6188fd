"""The command line as a user meets it: help, bad input and unreachable servers give one line."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from journeygate.cli import LAZY_COMMANDS, load_command
from journeygate.embedded.procs import free_port

pytestmark = pytest.mark.integration

# What `journeygate --help` and `--version` must not import: each command's own modules, and
# the libraries only the work needs.
HEAVY_MODULES = (
    "journeygate.bench.cli",
    "simulator.cli",
    "dealers.cli",
    "journeygate.demo",
    "numpy",
    "aiokafka",
    "psycopg",
    "pydantic_settings",
)


def run_cli(
    *args: str, timeout_s: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeygate", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=env,
    )


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("process", "--help")])
def test_help_and_version_import_no_command_module(args: tuple[str, ...]) -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from journeygate.cli import app\n"
        f"result = CliRunner().invoke(app, {list(args)!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_the_summaries_of_the_commands_loaded_on_use_are_theirs() -> None:
    listed = run_cli("--help").stdout
    for name, (_, summary) in LAZY_COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert first == summary, name
        assert name in listed


def test_a_command_loaded_on_use_runs_with_its_own_options() -> None:
    result = run_cli("simulate", "--help")
    assert result.returncode == 0 and "--plan-only" in result.stdout
    assert "webhook" in run_cli("dealers", "--help").stdout


def test_version_is_the_installed_one() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"journeygate {version('journeygate')}"


def test_an_unknown_setting_in_the_environment_is_one_line_naming_the_closest() -> None:
    env = {**os.environ, "JOURNEYGATE_KAFKA_BOOTSTRAPS": "kafka:9092"}
    result = run_cli("topics", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "JOURNEYGATE_KAFKA_BOOTSTRAPS" in lines[0]
    assert "did you mean JOURNEYGATE_KAFKA_BOOTSTRAP?" in lines[0]


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
    ],
)
def test_unreachable_server_is_one_line(command: tuple[str, ...]) -> None:
    # One-shot commands; the long-running stages wait for their servers instead
    # (tests/integration/kernel/test_stage_lifecycle.py).
    port = free_port()
    result = run_cli(*(part.format(port=port) for part in command))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.strip().splitlines() if "journeygate" in line]
    assert errors and "cannot reach" in errors[-1], result.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--scenario", "no-such-scenario"), "no-such-scenario.toml"),
        (("--now", "yesterday"), "--now"),
        (("--now", "2026-03-01T12:00:00"), "time zone"),
        (("--scenario", "{bad}"), "fleet.vehicles"),
    ],
)
def test_bad_demo_input_is_one_line_before_any_server_starts(
    args: tuple[str, ...], names: str, tmp_path: Path
) -> None:
    data_dir, bad = tmp_path / "demo", tmp_path / "bad.toml"
    bad.write_text("[fleet]\nvehicles = -1\n")
    result = run_cli("demo", "--dir", str(data_dir), *(a.format(bad=bad) for a in args))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], result.stderr
    assert not data_dir.exists()  # nothing was started

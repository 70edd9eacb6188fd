"""Compiled modules: which run so, and sources edited since they were compiled."""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

from kernel.native import compiled, compiled_modules, stale, summary

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _touch(path: Path, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.utime(path, (mtime, mtime))


def test_a_source_edited_after_its_compiled_module_is_stale(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg" / "sub"
    _touch(pkg / "fresh.py", 100)
    _touch(pkg / f"fresh{SUFFIX}", 200)
    _touch(pkg / "edited.py", 300)
    _touch(pkg / f"edited{SUFFIX}", 200)
    _touch(pkg / "plain.py", 300)  # never compiled
    _touch(pkg / f"orphan{SUFFIX}", 100)  # no source beside it
    assert stale(tmp_path) == [pkg / "edited.py"]
    assert compiled(pkg) == ["edited", "fresh"]


def test_nothing_compiled_nothing_stale(tmp_path: Path) -> None:
    _touch(tmp_path / "a.py", 100)
    assert stale(tmp_path) == [] and compiled(tmp_path) == []


def test_compiled_modules_are_named_from_the_root_and_summarised(tmp_path: Path) -> None:
    _touch(tmp_path / "processors" / "signals" / "vehicle.py", 100)
    _touch(tmp_path / "processors" / "signals" / f"vehicle{SUFFIX}", 200)
    _touch(tmp_path / "schemas" / "codec.py", 100)
    _touch(tmp_path / "schemas" / f"codec{SUFFIX}", 200)
    _touch(tmp_path / "other" / "x.py", 100)
    _touch(tmp_path / "other" / f"x{SUFFIX}", 200)  # not a package setup.py compiles
    assert compiled_modules(tmp_path) == ["processors.signals.vehicle", "schemas.codec"]
    assert summary(tmp_path / "processors" / "signals") == "vehicle"
    assert summary(tmp_path / "schemas" / "none") == "none (pure Python)"

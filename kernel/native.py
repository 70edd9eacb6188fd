"""Modules compiled to C (setup.py, ``JOURNEYGATE_COMPILE=1``): which ones run so, and whether a
source changed since it was compiled (the compiled module is imported in its place, so an edit
takes effect only once ``make`` has built it again)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)
PACKAGES = ("processors", "schemas")
"""The top-level packages setup.py compiles modules of (``make`` clears them, the tests check
them)."""


def _pairs(root: Path) -> list[tuple[Path, Path]]:
    """(compiled module, its Python source) under ``root``."""
    out = []
    for ext in root.rglob("*.*"):
        if ext.name.endswith(_EXTENSIONS):
            source = ext.with_name(ext.name.partition(".")[0] + ".py")
            if source.exists():
                out.append((ext, source))
    return out


def compiled(package_dir: Path) -> list[str]:
    """The modules of the package in ``package_dir`` that are compiled (imported in place of
    their source), by name."""
    return sorted({source.stem for _, source in _pairs(package_dir)})


def summary(package_dir: Path) -> str:
    """What a stage logs at start: its package's compiled modules, or that it runs as Python."""
    names = compiled(package_dir)
    return ", ".join(names) if names else "none (pure Python)"


def _dotted(root: Path, source: Path) -> str:
    return ".".join(source.relative_to(root).with_suffix("").parts)


def compiled_modules(root: Path) -> list[str]:
    """Every compiled module of :data:`PACKAGES` under ``root`` (the directory that holds
    them), by dotted name."""
    return sorted(_dotted(root, s) for p in PACKAGES for _, s in _pairs(root / p))


def stale(root: Path) -> list[Path]:
    """Python sources under ``root`` newer than the compiled module beside them."""
    return sorted({s for ext, s in _pairs(root) if s.stat().st_mtime > ext.stat().st_mtime})


class _Sources(importlib.abc.MetaPathFinder):
    """Finds the Python source of each module that is also compiled."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        return None if source is None else importlib.util.spec_from_file_location(fullname, source)


def prefer_sources(root: Path, package: str) -> list[str]:
    """Import the Python source of every compiled module of ``package`` (its directory under
    ``root``) from now on, instead of the compiled module: a test run can check the code as
    plain Python in a tree built compiled. Returns the modules concerned."""
    base = root / package.replace(".", "/")
    sources = {_dotted(root, source): source for _, source in _pairs(base)}
    sys.meta_path.insert(0, _Sources(sources))
    return sorted(sources)

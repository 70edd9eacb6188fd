"""Modules compiled to C (setup.py, ``JOURNEYGATE_COMPILE=1``): which ones run so, and whether a
source changed since it was compiled (the compiled module is imported in its place, so an edit
takes effect only once ``make`` has built it again)."""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)


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


def stale(root: Path) -> list[Path]:
    """Python sources under ``root`` newer than the compiled module beside them."""
    return sorted({s for ext, s in _pairs(root) if s.stat().st_mtime > ext.stat().st_mtime})

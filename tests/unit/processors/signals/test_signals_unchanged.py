"""The signals processor's memories are never changed once built, though not declared frozen
(a frozen dataclass's ``__init__`` stays interpreted under mypyc: see
:class:`~processors.signals.memory.VehicleMemory`): no statement of the processor assigns one of
their fields, apart from the encoding cache ``VehicleMemory._cold``."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import processors.signals
from processors.signals.memory import VehicleMemory
from processors.signals.usage_state import UsageState

SOURCES = sorted(Path(processors.signals.__file__).parent.glob("*.py"))
CACHE = "_cold"


def _assigned(tree: ast.AST) -> list[tuple[str, int]]:
    """Every attribute a statement assigns (``x.a = ...``, ``x.a += ...``, ``del x.a``)."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = list(node.targets)
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store | ast.Del):
                    found.append((sub.attr, sub.lineno))
    return found


def test_no_field_of_a_memory_is_assigned_after_it_is_built() -> None:
    guarded = {f.name for f in fields(VehicleMemory)} | {f.name for f in fields(UsageState)}
    guarded.discard(CACHE)
    assert SOURCES, "no sources found"
    offences = [
        f"{path.name}:{line}: .{attr}"
        for path in SOURCES
        for attr, line in _assigned(ast.parse(path.read_text(), str(path)))
        if attr in guarded
    ]
    assert offences == []


def test_the_check_sees_an_assignment() -> None:
    tree = ast.parse("m.as_of_ms = 1\nm.ring_f32 += b''\ndel m.faults\n(a.usage, b) = (1, 2)\n")
    assert [a for a, _ in _assigned(tree)] == ["as_of_ms", "ring_f32", "faults", "usage"]

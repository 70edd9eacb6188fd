"""The signals processor's values (its memories, estimates, forecasts and views) are never changed
once built, though not declared frozen (a frozen dataclass's ``__init__`` stays interpreted under
mypyc, setting each field through ``object.__setattr__``: see
:class:`~processors.signals.memory.VehicleMemory`): no statement of the processor assigns a field
of a dataclass it declares without ``frozen``, apart from the encoding cache
``VehicleMemory._cold``."""

from __future__ import annotations

import ast
import importlib
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

import processors.signals
from processors.signals.memory import VehicleMemory
from processors.signals.usage_state import UsageState
from processors.signals.views import Prediction

SOURCES = sorted(Path(processors.signals.__file__).parent.glob("*.py"))
CACHE = "_cold"


def unfrozen() -> list[type]:
    """Every dataclass the processor's modules declare without ``frozen``."""
    found: list[type] = []
    for path in SOURCES:
        module = importlib.import_module(f"processors.signals.{path.stem}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and is_dataclass(value)
                and not value.__dataclass_params__.frozen  # type: ignore[attr-defined]
            ):
                found.append(value)
    return found


def _own_initialised(tree: ast.AST) -> set[int]:
    """Lines where a class's ``__init__`` sets its own attribute (``self.a = ...``): a plain
    class building itself, not a value changed after it was built."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.ctx, ast.Store)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "self"
                ):
                    lines.add(sub.lineno)
    return lines


def _assigned(tree: ast.AST) -> list[tuple[str, int]]:
    """Every attribute a statement assigns (``x.a = ...``, ``x.a += ...``, ``del x.a``), but a
    class's own in its ``__init__``."""
    found: list[tuple[str, int]] = []
    own = _own_initialised(tree)
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
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.ctx, ast.Store | ast.Del)
                    and sub.lineno not in own
                ):
                    found.append((sub.attr, sub.lineno))
    return found


def test_the_unfrozen_values_are_found() -> None:
    classes = unfrozen()
    assert {VehicleMemory, UsageState, Prediction} <= set(classes)


def test_no_field_of_a_value_is_assigned_after_it_is_built() -> None:
    guarded = {f.name for cls in unfrozen() for f in fields(cls)}
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


def test_a_class_setting_its_own_attributes_in_its_init_is_not_an_assignment() -> None:
    tree = ast.parse(
        "class Run:\n"
        "    def __init__(self, m):\n"
        "        self.vin = m.vin\n"
        "        m.vin = 'x'\n"
        "    def later(self):\n"
        "        self.vin = 'y'\n"
    )
    assert [(a, line) for a, line in _assigned(tree)] == [("vin", 4), ("vin", 6)]


def _written_out() -> list[type]:
    """The values whose ``__init__`` is written out (``init=False``) to be compiled."""
    return [c for c in unfrozen() if not c.__dataclass_params__.init]  # type: ignore[attr-defined]


def _init_of(cls: type) -> ast.FunctionDef:
    source = Path(processors.signals.__file__).parent / f"{cls.__module__.rsplit('.', 1)[1]}.py"
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    return item
    raise AssertionError(f"{cls.__name__} has no __init__ written out")


def test_the_written_out_inits_are_found() -> None:
    assert {VehicleMemory, UsageState} <= set(_written_out())


def test_a_written_out_init_takes_and_sets_every_field_with_its_default() -> None:
    """Each takes the dataclass's fields in order, with the same defaults, and sets each from
    its parameter (what the decorator's ``__init__`` would do)."""
    for cls in _written_out():
        init = _init_of(cls)
        module = importlib.import_module(cls.__module__)
        wanted = [f for f in fields(cls) if f.init]
        params = init.args.args[1:]
        assert [a.arg for a in params] == [f.name for f in wanted], cls.__name__
        sets = {
            t.attr
            for stmt in init.body
            if isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Name)
            and stmt.value.id == (t := stmt.targets[0]).attr  # type: ignore[attr-defined]
            and isinstance(t, ast.Attribute)
            and isinstance(t.value, ast.Name)
            and t.value.id == "self"
        }
        assert {f.name for f in wanted} <= sets, cls.__name__
        defaults = dict(zip([a.arg for a in params[::-1]], init.args.defaults[::-1], strict=False))
        for f in wanted:
            declared = f.default if f.default is not MISSING else None
            if f.default_factory is not MISSING:
                declared = f.default_factory()
            if f.default is MISSING and f.default_factory is MISSING:
                assert f.name not in defaults, (cls.__name__, f.name)
                continue
            node = defaults[f.name]
            given = (
                getattr(module, node.id) if isinstance(node, ast.Name) else ast.literal_eval(node)
            )
            assert given == declared, (cls.__name__, f.name)

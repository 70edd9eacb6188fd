"""The one registry of dead-letter reasons: complete, documented, and the only codes in use."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.deadletters import (
    REASONS,
    STAGE_BRIDGE,
    STAGE_JOURNEY,
    STAGE_NORMALIZE,
    STAGE_SIGNALS,
    STAGE_STORE,
    Reason,
    reasons_of,
)
from processors.normalize.reasons import CHECK_ORDER, SCHEMA_REASONS
from schemas.codec import CodecError
from simulator.scenario.kinds import EXPECTATIONS

ROOT = Path(__file__).parents[3]
DOC = (ROOT / "docs" / "payload.md").read_text(encoding="utf-8")
STAGES = {STAGE_BRIDGE, STAGE_NORMALIZE, STAGE_STORE, STAGE_SIGNALS, STAGE_JOURNEY}
# Packages of the product (tests excepted), scanned for the reason codes they use.
PACKAGES = sorted(
    p.parent.name
    for p in ROOT.glob("*/__init__.py")
    if p.parent.name not in {"tests"} and not p.parent.name.startswith(".")
)
# Calls that take a reason code, and the position of the code among their arguments
# (a ``reason=`` keyword counts too). ``Rejected`` is the normalizer's (reason, detail) and the
# store's (record, reason, detail).
REASON_ARG = {"DataError": 0, "Expectation": 1, "DeadLetterOut": 1, "dlq_headers": None}


def _doc_rows() -> list[tuple[str, str, str]]:
    section = DOC.split("## Rejection reasons", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([\w, ]+) \| (.+?) \| .+ \|$", section, flags=re.MULTILINE)
    return [(code, stages, meaning) for code, stages, meaning in rows]


def test_every_reason_is_registered_with_known_stages_and_a_one_line_meaning() -> None:
    assert set(REASONS) == set(Reason)
    for reason, info in REASONS.items():
        assert info.stages and set(info.stages) <= STAGES, reason
        assert info.meaning and "\n" not in info.meaning, reason


def test_the_docs_table_is_the_registry_in_order() -> None:
    expected = [(r.value, ", ".join(REASONS[r].stages), REASONS[r].meaning) for r in Reason]
    assert _doc_rows() == expected


def test_the_normalizer_order_covers_exactly_its_registered_reasons() -> None:
    assert reasons_of(STAGE_NORMALIZE) == CHECK_ORDER
    assert set(CHECK_ORDER) >= SCHEMA_REASONS
    assert reasons_of(STAGE_BRIDGE) == (Reason.BAD_TOPIC, Reason.OVERSIZE)
    assert reasons_of(STAGE_STORE) == (Reason.UNDECODABLE,)


def test_codes_raised_outside_the_enum_are_registered() -> None:
    assert CodecError("x").reason in REASONS
    assert STAGE_STORE in REASONS[Reason(CodecError("x").reason)].stages
    for fault, expect in EXPECTATIONS.items():
        assert expect.reason in {r.value for r in Reason}, fault
        assert expect.stage in REASONS[Reason(expect.reason)].stages, fault


def _reason_args(tree: ast.Module) -> Iterator[tuple[int, ast.expr]]:
    """Every expression passed as a reason code in a module."""
    data_errors = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id.endswith("DataError") for b in node.bases)
    }
    for cls in ast.walk(tree):
        if not (isinstance(cls, ast.ClassDef) and cls.name in data_errors):
            continue
        for call in ast.walk(cls):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "__init__"
                and call.args
            ):
                yield call.lineno, call.args[0]
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        for kw in call.keywords:
            if kw.arg == "reason":
                yield call.lineno, kw.value
        if name == "Rejected":
            position: int | None = 1 if len(call.args) == 3 else 0
        elif name in REASON_ARG or name in data_errors:
            position = REASON_ARG.get(name, 0)
        else:
            continue
        if position is not None and len(call.args) > position:
            yield call.lineno, call.args[position]


def _used_codes() -> Iterator[tuple[str, str]]:
    """(where, code) for every reason code written as a string or a ``Reason`` member."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {
                target.id: node.value.value
                for node in tree.body
                if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            where = str(path.relative_to(ROOT))
            for line, arg in _reason_args(tree):
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield f"{where}:{line}", arg.value
                elif isinstance(arg, ast.Name) and arg.id in constants:
                    yield f"{where}:{line}", constants[arg.id]
                elif (
                    isinstance(arg, ast.Attribute)
                    and isinstance(arg.value, ast.Name)
                    and arg.value.id == "Reason"
                ):
                    yield f"{where}:{line}", Reason[arg.attr].value


def test_every_reason_code_used_anywhere_in_the_code_is_registered() -> None:
    used = list(_used_codes())
    registered = {r.value for r in Reason}
    unknown = [(where, code) for where, code in used if code not in registered]
    assert not unknown
    # The scan sees the codes written as strings outside the enum (the store's, the codec's,
    # the simulator's expectations), and through the enum every stage's.
    codes = {code for _, code in used}
    assert {"undecodable", "bad_topic", "oversize", "unknown_vin", "vin_check_digit"} <= codes
    assert any(where.startswith("schemas/codec.py") for where, _ in used)


@pytest.mark.parametrize("reason", list(Reason))
def test_each_reason_is_a_stable_lower_case_code(reason: Reason) -> None:
    assert re.fullmatch(r"[a-z][a-z_]*", reason.value)
    assert reason.name == reason.value.upper()

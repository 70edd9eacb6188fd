"""Build of journeygate (pyproject.toml holds the metadata).

With ``JOURNEYGATE_COMPILE=1`` the journey processor's pure core is compiled to C with mypyc
(from its type annotations, as mypy checks them): the same code, about a quarter less CPU per
fold (docs/performance.md, "Compiled core"). ``make`` builds it so; a plain ``pip install .``
builds pure Python. Compiling type-checks the modules with their imports, so it needs the
project's dependencies and mypy installed beside it (``pip install --no-build-isolation``).
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import setup

COMPILED = [
    "processors/journey/alerts.py",
    "processors/journey/budget.py",
    "processors/journey/clock.py",
    "processors/journey/gates.py",
    "processors/journey/logic.py",
    "processors/journey/machine.py",
    "processors/journey/rules.py",
    "processors/journey/state.py",
]
"""Modules compiled with mypyc: the journey processor's pure core (no I/O), where its CPU goes."""


def ext_modules() -> list[Any]:
    if os.environ.get("JOURNEYGATE_COMPILE") != "1":
        return []
    from mypyc.build import mypycify

    return list(mypycify(COMPILED, opt_level="3", group_name="journeygate_native"))


setup(ext_modules=ext_modules())

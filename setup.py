"""Build of journeygate (pyproject.toml holds the metadata).

With ``JOURNEYGATE_COMPILE=1`` the pure cores of the journey and signals processors are compiled
to C with mypyc (from their type annotations, as mypy checks them): the same code, about a quarter
less CPU per fold in the journey processor and an eighth less per frame in the signals processor;
the frame codec (``schemas/avro_read.py``, ``schemas/codec.py``) decodes a frame in less than
half the time (docs/performance.md, "Compiled core"). ``make`` builds it so; a plain
``pip install .`` builds pure Python. Compiling type-checks the modules with their imports, so
it needs the project's dependencies and mypy installed beside it (``pip install
--no-build-isolation``).

Each package's modules are one group (one C file, one extension: :data:`GROUPS`), and the
groups are compiled in parallel, one per core (``JOURNEYGATE_BUILD_JOBS=N`` caps it): on two
cores the build takes 72 s against 120 s for a single group, and each package's code is one
file as before, so the C compiler inlines across its modules as it did (no compiled module
calls another package's; docs/performance.md).
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED = [
    "processors/journey/alerts.py",
    "processors/journey/budget.py",
    "processors/journey/clock.py",
    "processors/journey/gates.py",
    "processors/journey/logic.py",
    "processors/journey/machine.py",
    "processors/journey/rules.py",
    "processors/journey/state.py",
    "processors/signals/bill.py",
    "processors/signals/cache.py",
    "processors/signals/calibration.py",
    "processors/signals/dates.py",
    "processors/signals/equity.py",
    "processors/signals/estimate.py",
    "processors/signals/explain.py",
    "processors/signals/finance.py",
    "processors/signals/fleetshift.py",
    "processors/signals/forecast.py",
    "processors/signals/history.py",
    "processors/signals/lateness.py",
    "processors/signals/limits.py",
    "processors/signals/logic.py",
    "processors/signals/materiality.py",
    "processors/signals/memory.py",
    "processors/signals/predict.py",
    "processors/signals/pricing.py",
    "processors/signals/quality.py",
    "processors/signals/rebaseline.py",
    "processors/signals/records.py",
    "processors/signals/service.py",
    "processors/signals/upkeep.py",
    "processors/signals/usage.py",
    "processors/signals/usage_state.py",
    "processors/signals/vehicle.py",
    "processors/signals/views.py",
    "processors/signals/warranty.py",
    "processors/signals/wearlife.py",
    "schemas/avro_read.py",
    "schemas/codec.py",
]
"""Modules compiled with mypyc: the pure cores (no I/O) of the journey and signals processors,
where their CPU goes (the runners, their database code and metrics stay Python), and the frame
codec every stage after the bridge reads or writes ``telemetry.frames`` with."""
GROUPS = (
    ("processors/journey", "journey"),
    ("processors/signals", "signals"),
    ("schemas", "codec"),
)
"""(directory, name): the modules of :data:`COMPILED` under each directory make the extension
``journeygate_<name>__mypyc``."""


def ext_modules() -> list[Any]:
    if os.environ.get("JOURNEYGATE_COMPILE") != "1":
        return []
    from mypyc.build import mypycify

    groups = [
        ([p for p in COMPILED if p.startswith(f"{package}/")], f"journeygate_{name}")
        for package, name in GROUPS
    ]
    return list(mypycify(COMPILED, opt_level="3", separate=groups))


class ParallelBuildExt(build_ext):
    """Builds the groups' extensions in parallel, one per core unless ``-j`` says otherwise."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = int(os.environ.get("JOURNEYGATE_BUILD_JOBS") or os.cpu_count() or 1)


setup(ext_modules=ext_modules(), cmdclass={"build_ext": ParallelBuildExt})

"""Build of journeygate (pyproject.toml holds the metadata).

With ``JOURNEYGATE_COMPILE=1`` the pure cores of the journey and signals processors are compiled
to C with mypyc (from their type annotations, as mypy checks them): the same code, about a quarter
less CPU per fold in the journey processor and an eighth less per frame in the signals processor;
the frame codec (``schemas/avro_read.py``, ``schemas/codec.py``) decodes a frame in less than
half the time (docs/performance.md, "Compiled core"). ``make`` builds it so; a plain
``pip install .`` builds pure Python. Compiling type-checks the modules with their imports, so
it needs the project's dependencies, mypy and pybind11 installed beside it (``pip install
--no-build-isolation``).

mypyc writes one C file per module (``multi_file``), and pybind11's ``ParallelCompile`` compiles
them on every core (``JOURNEYGATE_BUILD_JOBS=N`` sets how many): on two cores the build takes
about 75 s instead of 120 s for one file on one core, and the code runs as fast (measured in
one process on the signals processor's fold and the frame codec; docs/performance.md).
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
    "processors/signals/bill.py",
    "processors/signals/calibration.py",
    "processors/signals/dates.py",
    "processors/signals/equity.py",
    "processors/signals/estimate.py",
    "processors/signals/explain.py",
    "processors/signals/finance.py",
    "processors/signals/forecast.py",
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


def ext_modules() -> list[Any]:
    if os.environ.get("JOURNEYGATE_COMPILE") != "1":
        return []
    from mypyc.build import mypycify
    from pybind11.setup_helpers import ParallelCompile

    ParallelCompile("JOURNEYGATE_BUILD_JOBS").install()
    modules = mypycify(COMPILED, opt_level="3", group_name="journeygate_native", multi_file=True)
    return list(modules)


setup(ext_modules=ext_modules())

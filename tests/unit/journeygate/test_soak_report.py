"""The soak's options and its judgement, without running one."""

from __future__ import annotations

from typing import Any

import pytest

from journeygate.soak import Exit, FaultRecord, SoakOptions, SoakReport
from kernel.errors import ConfigError
from kernel.settings import load_settings
from simulator.runner import SimulationParams, plan_for


def verdict(passed: bool, missing: int = 0, doubled: int = 0) -> dict[str, Any]:
    return {
        "passed": passed,
        "published_messages": 120,
        "valid": {
            "samples": 100,
            "stored_once": 100 - missing,
            "missing": missing,
            "doubled": doubled,
        },
        "malformed": {"expected": 2, "dead_lettered": 2},
    }


def report(v: dict[str, Any], exits: list[Exit] | None = None) -> SoakReport:
    faults = [FaultRecord(3.0, "kill", "store", "SIGKILL", 2.0, 5.0, 1.5),
              FaultRecord(9.0, "partition", "bridge-mqtt", "cut", 4.0, 13.0, None)]  # fmt: skip
    memory = {"bridge": [(0.0, 50 << 20), (10.0, 60 << 20), (20.0, 55 << 20)]}
    return SoakReport(SoakOptions(), 30.0, v, faults, exits or [], memory, {"store": 1}, (1.0, 2.0))


def test_a_soak_passes_only_with_nothing_lost_or_doubled_and_no_stage_exiting_by_itself() -> None:
    assert report(verdict(True)).passed
    assert not report(verdict(False, missing=3)).passed
    assert not report(verdict(False, doubled=1)).passed
    assert not report(verdict(True), [Exit(4.0, "store", 1, "boom")]).passed


def test_the_document_counts_faults_recoveries_and_memory() -> None:
    doc = report(verdict(False, missing=3)).as_dict()
    assert (doc["passed"], doc["lost"], doc["stored_once"], doc["sent"]["messages"]) == (
        False, 3, 97, 120)  # fmt: skip
    assert doc["recovery_s"] == {"max": 1.5, "median": 1.5, "never": 1}
    assert [f["recovered_s"] for f in doc["faults"]] == [1.5, None]
    (bridge,) = doc["memory"]
    assert (bridge["first_bytes"], bridge["peak_bytes"], bridge["last_bytes"]) == (
        50 << 20, 60 << 20, 55 << 20)  # fmt: skip
    assert doc["memory_samples"]["bridge"][1] == [10.0, 60 << 20]


@pytest.mark.parametrize(
    ("options", "flag"),
    [({"minutes": 0}, "--minutes"), ({"minutes": 2000}, "--minutes"), ({"rate_per_s": 0}, "--rate"),
     ({"vehicles": 1}, "--vehicles"), ({"fault_interval_s": 0.5}, "--fault-interval-s")],
)  # fmt: skip
def test_bad_options_name_their_flag(options: dict[str, float], flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        SoakOptions(**options)  # type: ignore[arg-type]


def test_the_fleet_is_sized_to_outlast_the_run() -> None:
    """The simulator's own plan for the fleet the soak asks for holds more messages than the
    run publishes at its rate (the run stops the fleet when its time is up)."""
    for minutes, rate, vehicles in ((0.25, 100, 50), (2, 150, 300)):
        options = SoakOptions(minutes=minutes, rate_per_s=rate, vehicles=vehicles)
        params = SimulationParams(vehicles=vehicles, days=options.days(), seed=options.seed)
        planned = len(plan_for(load_settings(), params).messages)
        assert planned >= rate * options.seconds

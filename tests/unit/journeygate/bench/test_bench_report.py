"""The bench report's header says which processors' cores ran compiled."""

from __future__ import annotations

from journeygate.bench.report import _cores


def test_the_header_names_each_processor_whose_core_ran_compiled() -> None:
    modules = (
        "processors.journey.machine",
        "processors.journey.state",
        "processors.signals.vehicle",
    )
    assert _cores(modules) == "journey, signals"
    assert _cores((*modules, "schemas.codec", "schemas.avro_read")) == "journey, schemas, signals"
    assert _cores(("processors.journey.gates",)) == "journey"
    assert _cores(()) == "none"

"""The signal table's order is the order of ``Sample``'s fields and of the Avro schema, so a
sample's values can be passed by position."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from processors.normalize.vss import SIGNALS
from schemas.records import Sample

AVSC = Path(__file__).parents[4] / "schemas" / "telemetry_frame.avsc"


def test_signals_are_in_sample_field_order() -> None:
    assert [f.name for f in fields(Sample)][2:] == [s.field for s in SIGNALS]


def test_signals_are_in_avro_field_order() -> None:
    schema = json.loads(AVSC.read_text())
    sample = next(f for f in schema["fields"] if f["name"] == "samples")["type"]["items"]
    assert [f["name"] for f in sample["fields"]][2:] == [s.field for s in SIGNALS]

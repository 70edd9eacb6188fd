"""The validator agrees with schemas/telemetry-v1.schema.json, the documented contract.

For generated payloads, valid and mutated: the JSON Schema accepts a payload exactly when the
validator does not reject it with a reason the schema expresses (``SCHEMA_REASONS``).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import normalize_payloads as p
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators

from processors.normalize.reasons import SCHEMA_REASONS
from processors.normalize.validate import Rejected, Rules, validate
from schemas.codec import load_json_schema

RULES = Rules(future_tolerance_ms=p.TOLERANCE_MS)


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """JSON Schema patterns are ECMA-262: ``$`` matches only at the very end of the input.

    Python's ``$`` also matches before a final newline, so it is translated to ``\\Z``.
    """
    python = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    if validator.is_type(instance, "string") and re.search(python, instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


SchemaValidator = validators.extend(Draft202012Validator, validators={"pattern": _ecma_pattern})
VALIDATOR = SchemaValidator(load_json_schema("telemetry-v1"))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _edges(lo: float, hi: float) -> list[Any]:
    return [
        lo,
        hi,
        lo - 1,
        hi + 1,
        float(lo),
        float(hi),
        lo - 0.5,
        hi + 0.5,
        math.nextafter(lo, -math.inf),
        math.nextafter(hi, math.inf),
        hi - 0.5,
        1.5,
    ]


TOP_EDGES: dict[str, list[Any]] = {
    "v": [1, 1.0, 2, 0, "1", True, None, 1.5],
    "vin": [
        "1M8GDM9AXKP042788",
        "1M8GDM9AXKP042788\n",
        "1M8GDM9AXKP04278",
        "1M8GDM9AXKP0427880",
        "1M8GDM9AXKP04278O",
        "1m8GDM9AXKP042788",
        17,
    ],
    "boot_id": ["b", "", "b" * 64, "b" * 65, "a b", "a/b", "b\n", "x._:-Y9", 5],
    "seq": [0, -1, 2**53 - 1, 2**53, 7.0, 7.5, "7", True, None],
}
SAMPLE_EDGES: dict[str, list[Any]] = {
    path: _edges(lo, hi) for path, (_f, _k, lo, hi) in p.NUMERIC.items()
}
SAMPLE_EDGES["ts_ms"] = [
    p.TS_MIN_MS,
    p.TS_MIN_MS - 1,
    float(p.TS_MIN_MS),
    p.TS_MIN_MS + 0.5,
    2**70,
    "1",
    True,
]
SAMPLE_EDGES[p.DTC_PATH] = [
    [],
    ["P0300"],
    ["P4000"],
    ["p0300"],
    ["P0300\n"],
    ["U3FFF"] * 64,
    ["U3FFF"] * 65,
    [300],
    "P0300",
    None,
]

TOP_VALUES = {k: st.sampled_from(v) for k, v in TOP_EDGES.items()}
SAMPLE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    k: st.sampled_from(v) for k, v in SAMPLE_EDGES.items()
}
SAMPLE_VALUES[p.DTC_PATH] = st.lists(
    st.text("PCBUX0123456789ABCDEFp", min_size=4, max_size=6) | p.dtc_codes | json_values,
    max_size=66,
) | st.sampled_from(SAMPLE_EDGES[p.DTC_PATH])


@st.composite
def mutated_payloads(draw: st.DrawFn) -> Any:
    payload: Any = copy.deepcopy(draw(p.payloads(max_samples=3)))
    for _ in range(draw(st.integers(0, 3))):
        payload = _mutate(draw, payload)
    return payload


def _mutate(draw: st.DrawFn, payload: Any) -> Any:
    if not isinstance(payload, dict):
        return payload
    kind = draw(st.sampled_from(["top", "drop", "extra", "sample", "samples", "whole"]))
    if kind == "whole":
        return draw(json_values)
    if kind == "top":
        name = draw(st.sampled_from(sorted(TOP_VALUES)))
        payload[name] = draw(TOP_VALUES[name] | json_values)
    elif kind == "drop" and payload:
        payload.pop(draw(st.sampled_from(sorted(payload))))
    elif kind == "extra":
        payload[draw(st.sampled_from(["x", "sample", "samples", "V", "ts_ms"]))] = draw(
            st.builds(dict) | json_values
        )
    elif kind == "samples":
        payload["samples"] = draw(st.sampled_from([[], {}, "", [[]]]))
    else:
        sample = _some_sample(draw, payload)
        if sample is not None:
            _mutate_sample(draw, sample)
    return payload


def _some_sample(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any] | None:
    candidates = [payload.get("sample")]
    if isinstance(payload.get("samples"), list):
        candidates.extend(payload["samples"])
    dicts = [c for c in candidates if isinstance(c, dict)]
    return draw(st.sampled_from(dicts)) if dicts else None


def _mutate_sample(draw: st.DrawFn, sample: dict[str, Any]) -> None:
    action = draw(st.sampled_from(["set", "drop", "junk", "extra"]))
    if action == "set":
        path = draw(st.sampled_from(sorted(SAMPLE_VALUES)))
        sample[path] = draw(SAMPLE_VALUES[path])
    elif action == "drop" and sample:
        sample.pop(draw(st.sampled_from(sorted(sample))))
    elif action == "junk":
        path = draw(st.sampled_from(sorted(SAMPLE_VALUES)))
        sample[path] = draw(json_values)
    else:
        sample[draw(st.sampled_from(["Vehicle.Horn", "ts", "Vehicle.speed"]))] = 1


def _assert_agree(payload: Any) -> None:
    text = json.dumps(payload)
    document = json.loads(text)
    schema_valid = VALIDATOR.is_valid(document)
    outcome = validate(p.record(document, value=text.encode()), RULES)
    schema_rejected = isinstance(outcome, Rejected) and outcome.reason in SCHEMA_REASONS
    assert schema_valid != schema_rejected, (
        outcome,
        [e.message[:120] for e in VALIDATOR.iter_errors(document)][:3],
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(payload=mutated_payloads())
def test_schema_valid_iff_not_rejected_for_a_schema_reason(payload: Any) -> None:
    _assert_agree(payload)


def test_agreement_on_every_edge_value() -> None:
    base = p.simple_payload("1M8GDM9AXKP042788")
    for name, values in TOP_EDGES.items():
        for value in values:
            _assert_agree({**base, name: value})
    for path, values in SAMPLE_EDGES.items():
        for value in values:
            _assert_agree({**base, "sample": {**base["sample"], path: value}})


def test_agreement_on_the_sample_count_limit() -> None:
    base = p.simple_payload("1M8GDM9AXKP042788")
    del base["sample"]
    for count in (1000, 1001):
        _assert_agree({**base, "samples": [{"ts_ms": p.INGEST_TS_MS}] * count})


@given(payload=p.payloads())
def test_generated_valid_payloads_are_schema_valid(payload: dict[str, Any]) -> None:
    assert VALIDATOR.is_valid(payload)


def test_mutations_produce_both_verdicts() -> None:
    verdicts: set[bool] = set()

    @settings(max_examples=100, database=None)
    @given(payload=mutated_payloads())
    def collect(payload: Any) -> None:
        verdicts.add(VALIDATOR.is_valid(json.loads(json.dumps(payload))))

    collect()
    assert verdicts == {True, False}

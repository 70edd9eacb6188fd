"""The pure verdict: it passes exactly when the store and the dead letters match the truth."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from sim_kit import fleet_data, plan, truth_lines

from kernel.errors import ConfigError
from schemas.records import SampleKey
from simulator.truth.report import verdict_document, verdict_tables
from simulator.truth.verdict import DeadLetterSeen, Verdict, expected_sample_keys, judge, read_truth

Line = dict[str, Any]


@cache
def truth() -> tuple[Line, ...]:
    p = plan(
        fleet_data(
            12,
            4,
            31,
            faults={
                "duplicate_rate": 0.1,
                "dead_zone": {"per_vehicle_day": 0.8, "duration_min": [60, 600]},
                "out_of_order": {"rate": 0.05},
                "clock_skew": {"per_vehicle_day": 0.5, "far_ahead_share": 0.5},
                "reboot": {"per_vehicle_day": 0.5},
                "odometer": {"rollback": 0.02, "jump": 0.02, "unit_error": 0.02},
                "malformed": {"min_each": 2},
            },
        )
    )
    return tuple(json.loads(line) for line in truth_lines(p))


def messages(kind: str) -> list[Line]:
    return [x for x in truth() if x.get("type") == "message" and x["kind"] == kind]


def perfect_store() -> list[SampleKey]:
    return sorted(expected_sample_keys(truth()))


def perfect_letters() -> list[DeadLetterSeen]:
    root = truth()[0]["mqtt_topic_root"]
    return [
        DeadLetterSeen(
            m["expect_stage"], m["expect_reason"], m["sha256"], f"{root}/{m['topic_vin']}/telemetry"
        )
        for m in messages("malformed")
    ]


def category(verdict: Verdict, fault: str) -> dict[str, Any]:
    return next(c.as_json() for c in verdict.valid_by_fault if c.fault == fault)


def test_a_perfect_pipeline_passes_in_every_category() -> None:
    v = judge(truth(), perfect_store(), perfect_letters())
    assert v.passed, v.as_dict()
    assert v.stored_once == v.expected_samples == len(perfect_store())
    assert v.valid_messages == len(messages("valid"))
    assert v.duplicates_published == len(messages("duplicate")) > 0
    assert v.malformed_dead_lettered == v.malformed_expected == len(messages("malformed"))
    faults = {c.fault for c in v.valid_by_fault}
    assert faults >= {"clean", "dead_zone", "out_of_order", "clock_skew", "reboot"}
    assert {c.fault for c in v.malformed_by_fault} >= {"clock_far_ahead", "oversize", "bad_vin"}
    assert all(c.stored_once == c.samples for c in v.valid_by_fault)


def test_a_lost_sample_is_missing_in_its_fault_category() -> None:
    zoned = next(m for m in messages("valid") if "dead_zone" in m.get("faults", ()))
    lost = (zoned["vin"], zoned["boot_id"], zoned["seq"], 0)
    v = judge(truth(), [k for k in perfect_store() if k != lost], perfect_letters())
    assert not v.passed
    assert v.missing_samples == 1 and category(v, "dead_zone")["missing"] == 1
    assert v.examples["missing_samples"] == [str(lost)]


def test_a_doubled_or_unexpected_sample_fails_but_other_vins_are_ignored() -> None:
    store = perfect_store()
    doubled = judge(truth(), [*store, store[3]], perfect_letters())
    assert not doubled.passed and doubled.doubled_samples == 1
    vin = store[0][0]
    extra = judge(truth(), [*store, (vin, "boot-x", 0, 0)], perfect_letters())
    assert not extra.passed and extra.unexpected_samples == 1
    foreign = judge(truth(), [*store, ("1HGCM82633A004352", "b", 0, 0)], perfect_letters())
    assert foreign.passed and foreign.ignored_samples == 1


def test_dead_letters_must_carry_the_right_stage_and_reason() -> None:
    letters = perfect_letters()
    first = letters[0]
    wrong = DeadLetterSeen("normalize", "nonsense", first.sha256, first.mqtt_topic)
    v = judge(truth(), perfect_store(), [wrong, *letters[1:]])
    assert not v.passed and v.malformed_wrong_reason == 1
    missing = judge(truth(), perfect_store(), letters[1:])
    assert not missing.passed and missing.malformed_missing == 1
    repeated = judge(truth(), perfect_store(), [*letters, letters[0]])
    assert repeated.passed and repeated.dead_letter_repeats == 1


def test_a_dead_lettered_valid_message_is_unexpected_and_foreign_letters_are_ignored() -> None:
    valid = messages("valid")[0]
    root = truth()[0]["mqtt_topic_root"]
    topic = f"{root}/{valid['topic_vin']}/telemetry"
    v = judge(
        truth(),
        perfect_store(),
        [*perfect_letters(), DeadLetterSeen("normalize", "schema", valid["sha256"], topic)],
    )
    assert not v.passed and v.unexpected_dead_letters == 1
    assert "for a valid message" in v.examples["unexpected_dead_letters"][0]
    other = DeadLetterSeen.of("bridge", "bad_topic", b"{}", "elsewhere/X/telemetry")
    ignored = judge(truth(), perfect_store(), [*perfect_letters(), other])
    assert ignored.passed and ignored.ignored_dead_letters == 1


def test_the_json_document_and_the_tables() -> None:
    v = judge(truth(), perfect_store()[1:], perfect_letters())
    doc = verdict_document(v, Path("t.jsonl"), 1.5)
    parsed = orjson.loads(orjson.dumps(doc))
    assert parsed["passed"] is False and parsed["truth"] == "t.jsonl"
    assert parsed["valid"]["missing"] == 1
    assert set(parsed) >= {
        "valid",
        "valid_by_fault",
        "duplicates",
        "malformed",
        "malformed_by_fault",
        "unexpected",
        "ignored",
        "examples",
    }
    console = Console(record=True, width=160)
    console.print(verdict_tables(v, Path("t.jsonl")))
    text = console.export_text()
    assert "FAIL" in text and "dead_zone" in text and "clock_far_ahead" in text


def test_truth_files_are_read_with_one_line_errors(tmp_path: Path) -> None:
    good = tmp_path / "t.jsonl"
    good.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in truth()))
    assert read_truth(good) == list(truth())
    for content, problem in ((b'{"format": "x"}\n', "header"), (b"{oops\n", "line 1")):
        bad = tmp_path / "bad.jsonl"
        bad.write_bytes(content)
        with pytest.raises(ConfigError, match=problem) as caught:
            read_truth(bad)
        assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read truth file"):
        read_truth(tmp_path / "missing.jsonl")

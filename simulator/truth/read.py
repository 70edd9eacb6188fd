"""Reading a truth file for the verdict: what must be stored, dead-lettered, and what is ours."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kernel.errors import ConfigError
from schemas.records import SampleKey

TRUTH_FORMAT = "journeygate-simulator-truth"


def damaged_line(path: Path, number: int, doc: object, exc: Exception) -> ConfigError:
    """One line for a truth file's line ``doc`` that lacks a field, names a vehicle no earlier
    line described or holds a value of the wrong kind (a file cut short or edited by hand),
    instead of a traceback."""
    key = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
    if isinstance(doc, dict) and key is not None and key in doc.values():
        what = f"is about {key!r}, which no vehicle line describes"
    elif key is not None:
        what = f"lacks the field {key!r}"
    else:
        what = f"has a bad value ({type(exc).__name__}: {exc})"
    return ConfigError(f"truth file {path}: line {number} {what}: not a whole truth file")


@dataclass(frozen=True, slots=True)
class ValidMessage:
    """A message whose samples the store must hold once; ``faults`` it went through."""

    n: int
    keys: tuple[SampleKey, ...]
    faults: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MalformedExpectation:
    n: int
    fault: str
    stage: str
    reason: str
    sha256: str


@dataclass(frozen=True, slots=True)
class RunScope:
    """What belongs to the run: its VINs, its topics and its payload digests."""

    vins: frozenset[str]
    topics: frozenset[str]
    digests: frozenset[str]
    valid_digests: frozenset[str]
    duplicates: int

    def owns(self, sha256: str, mqtt_topic: str) -> bool:
        return sha256 in self.digests or not mqtt_topic or mqtt_topic in self.topics


def _messages(lines: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [line for line in lines if line.get("type") == "message"]


def valid_messages(lines: Iterable[Mapping[str, Any]]) -> list[ValidMessage]:
    out = []
    for line in _messages(lines):
        if line["kind"] == "valid":
            vin, boot_id, seq = str(line["vin"]), str(line["boot_id"]), int(line["seq"])
            keys = tuple((vin, boot_id, seq, i) for i in range(int(line["samples"])))
            out.append(ValidMessage(int(line["n"]), keys, tuple(line.get("faults", ()))))
    return out


def malformed_expectations(lines: Iterable[Mapping[str, Any]]) -> list[MalformedExpectation]:
    return [
        MalformedExpectation(
            n=int(line["n"]),
            fault=str(line["fault"]),
            stage=str(line["expect_stage"]),
            reason=str(line["expect_reason"]),
            sha256=str(line["sha256"]),
        )
        for line in _messages(lines)
        if line["kind"] == "malformed"
    ]


def run_scope(lines: Sequence[Mapping[str, Any]]) -> RunScope:
    header = next((line for line in lines if line.get("type") == "header"), {})
    root = str(header.get("mqtt_topic_root", "vehicles"))
    messages = _messages(lines)
    vins = {str(line["vin"]) for line in lines if line.get("type") == "vehicle"}
    vins |= {str(m["vin"]) for m in messages} | {str(m["topic_vin"]) for m in messages}
    return RunScope(
        vins=frozenset(vins),
        topics=frozenset(f"{root}/{m['topic_vin']}/telemetry" for m in messages),
        digests=frozenset(str(m["sha256"]) for m in messages),
        valid_digests=frozenset(
            str(m["sha256"]) for m in messages if m["kind"] in ("valid", "duplicate")
        ),
        duplicates=sum(1 for m in messages if m["kind"] == "duplicate"),
    )


def read_truth(path: str | Path) -> list[dict[str, Any]]:
    """The truth file's lines as dicts; :class:`ConfigError` for a missing or foreign file."""
    try:
        with open(path, "rb") as f:
            raw = f.readlines()
    except OSError as exc:
        raise ConfigError(f"cannot read truth file {path}: {exc.strerror}") from None
    lines = []
    for number, text in enumerate(raw, start=1):
        if not text.strip():
            continue
        try:
            lines.append(orjson.loads(text))
        except orjson.JSONDecodeError:
            raise ConfigError(f"truth file {path}: line {number} is not JSON") from None
    if not lines or lines[0].get("format") != TRUTH_FORMAT:
        raise ConfigError(f"truth file {path}: no {TRUTH_FORMAT} header on the first line")
    return lines

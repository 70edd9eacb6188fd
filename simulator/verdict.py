"""The verdict: what the pipeline made of a simulation, judged against its truth file (pure).

Inputs are values: the truth file's lines, the idempotency keys the store holds (with repeats, if
any) and the dead letters (stage, reason, payload digest). The output says, per category, what was
expected, what matched, what is missing, doubled or unexpected.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.records import SampleKey


@dataclass(frozen=True, slots=True)
class DeadLetterSeen:
    stage: str
    reason: str
    sha256: str

    @classmethod
    def of(cls, stage: str, reason: str, payload: bytes) -> DeadLetterSeen:
        return cls(stage, reason, hashlib.sha256(payload).hexdigest())


@dataclass(frozen=True, slots=True)
class MalformedExpectation:
    n: int
    fault: str
    stage: str
    reason: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Verdict:
    valid_messages: int
    expected_samples: int
    stored_once: int
    missing_samples: int
    doubled_samples: int
    unexpected_samples: int
    duplicates_published: int
    malformed_expected: int
    malformed_dead_lettered: int
    malformed_wrong_reason: int
    malformed_missing: int
    dead_letter_repeats: int
    unexpected_dead_letters: int
    by_reason: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (
            self.missing_samples == 0
            and self.doubled_samples == 0
            and self.unexpected_samples == 0
            and self.malformed_wrong_reason == 0
            and self.malformed_missing == 0
            and self.unexpected_dead_letters == 0
        )

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["passed"] = self.passed
        return data


def expected_sample_keys(lines: Iterable[Mapping[str, Any]]) -> set[SampleKey]:
    """Every sample the store must hold, from the truth file's ``valid`` message lines."""
    keys: set[SampleKey] = set()
    for line in lines:
        if line.get("type") == "message" and line["kind"] == "valid":
            vin, boot_id, seq = str(line["vin"]), str(line["boot_id"]), int(line["seq"])
            keys.update((vin, boot_id, seq, i) for i in range(int(line["samples"])))
    return keys


def malformed_expectations(lines: Iterable[Mapping[str, Any]]) -> list[MalformedExpectation]:
    return [
        MalformedExpectation(
            n=int(line["n"]),
            fault=str(line["fault"]),
            stage=str(line["expect_stage"]),
            reason=str(line["expect_reason"]),
            sha256=str(line["sha256"]),
        )
        for line in lines
        if line.get("type") == "message" and line["kind"] == "malformed"
    ]


def judge(
    truth: Sequence[Mapping[str, Any]],
    stored: Iterable[SampleKey],
    dead_letters: Iterable[DeadLetterSeen],
    *,
    max_examples: int = 5,
) -> Verdict:
    """Compare what the store and the dead-letter topic hold with what was sent."""
    expected = expected_sample_keys(truth)
    stored_counts = Counter(stored)
    missing = expected - stored_counts.keys()
    doubled = {k for k, c in stored_counts.items() if c > 1}
    unexpected = stored_counts.keys() - expected
    valid_digests = {
        str(line["sha256"])
        for line in truth
        if line.get("type") == "message" and line["kind"] in ("valid", "duplicate")
    }
    seen_by_digest: dict[str, list[DeadLetterSeen]] = defaultdict(list)
    for letter in dead_letters:
        seen_by_digest[letter.sha256].append(letter)

    by_reason: dict[str, dict[str, int]] = defaultdict(lambda: Counter())
    wrong: list[str] = []
    absent: list[str] = []
    matched = repeats = 0
    malformed = malformed_expectations(truth)
    malformed_digests = {m.sha256 for m in malformed}
    for m in malformed:
        label = f"{m.stage}:{m.reason}"
        by_reason[label]["expected"] += 1
        seen = seen_by_digest.get(m.sha256, [])
        right = [s for s in seen if (s.stage, s.reason) == (m.stage, m.reason)]
        if right:
            matched += 1
            by_reason[label]["dead_lettered"] += 1
            repeats += len(right) - 1
        elif seen:
            wrong.append(
                f"message {m.n} ({m.fault}): expected {label}, got "
                + ", ".join(sorted({f"{s.stage}:{s.reason}" for s in seen}))
            )
            by_reason[label]["wrong_reason"] += 1
        else:
            absent.append(f"message {m.n} ({m.fault}): expected {label}, not dead-lettered")
            by_reason[label]["missing"] += 1
    unexpected_letters = [
        f"{s.stage}:{s.reason} for a {'valid' if d in valid_digests else 'unknown'} message"
        for d, letters in seen_by_digest.items()
        if d not in malformed_digests
        for s in letters
    ]
    return Verdict(
        valid_messages=sum(
            1 for line in truth if line.get("type") == "message" and line["kind"] == "valid"
        ),
        expected_samples=len(expected),
        stored_once=sum(1 for k in expected if stored_counts.get(k) == 1),
        missing_samples=len(missing),
        doubled_samples=len(doubled),
        unexpected_samples=len(unexpected),
        duplicates_published=sum(
            1 for line in truth if line.get("type") == "message" and line["kind"] == "duplicate"
        ),
        malformed_expected=len(malformed),
        malformed_dead_lettered=matched,
        malformed_wrong_reason=len(wrong),
        malformed_missing=len(absent),
        dead_letter_repeats=repeats,
        unexpected_dead_letters=len(unexpected_letters),
        by_reason={k: dict(v) for k, v in sorted(by_reason.items())},
        examples={
            "missing_samples": [str(k) for k in sorted(missing)[:max_examples]],
            "doubled_samples": [str(k) for k in sorted(doubled)[:max_examples]],
            "unexpected_samples": [str(k) for k in sorted(unexpected)[:max_examples]],
            "malformed_wrong_reason": wrong[:max_examples],
            "malformed_missing": absent[:max_examples],
            "unexpected_dead_letters": unexpected_letters[:max_examples],
        },
    )


def read_truth(path: str | Path) -> list[dict[str, Any]]:
    """The truth file's lines as dicts (JSON lines, see docs/simulator.md)."""
    import orjson

    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]

"""The verdict's records: counts per category and the verdict itself, with its JSON form."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

CLEAN = "clean"


@dataclass(slots=True)
class FaultCount:
    """Valid messages that went through one fault (``clean``: none), and how they ended up."""

    fault: str
    messages: int = 0
    samples: int = 0
    stored_once: int = 0
    missing: int = 0
    doubled: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "messages": self.messages,
            "samples": self.samples,
            "stored_once": self.stored_once,
            "missing": self.missing,
            "doubled": self.doubled,
        }


@dataclass(slots=True)
class MalformedCount:
    """Messages of one fault kind the pipeline must dead-letter, and what it did with them."""

    fault: str
    stage: str
    reason: str
    expected: int = 0
    dead_lettered: int = 0
    wrong_reason: int = 0
    missing: int = 0
    repeats: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "stage": self.stage,
            "reason": self.reason,
            "expected": self.expected,
            "dead_lettered": self.dead_lettered,
            "wrong_reason": self.wrong_reason,
            "missing": self.missing,
            "repeats": self.repeats,
        }


@dataclass(frozen=True, slots=True)
class DeadLetterSeen:
    stage: str
    reason: str
    sha256: str
    mqtt_topic: str = ""

    @classmethod
    def of(cls, stage: str, reason: str, payload: bytes, mqtt_topic: str = "") -> DeadLetterSeen:
        return cls(stage, reason, hashlib.sha256(payload).hexdigest(), mqtt_topic)


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
    ignored_samples: int = 0
    ignored_dead_letters: int = 0
    valid_by_fault: tuple[FaultCount, ...] = ()
    malformed_by_fault: tuple[MalformedCount, ...] = ()
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
        """The verdict as a JSON document (``journeygate verify --json``)."""
        return {
            "passed": self.passed,
            "valid": {
                "messages": self.valid_messages,
                "samples": self.expected_samples,
                "stored_once": self.stored_once,
                "missing": self.missing_samples,
                "doubled": self.doubled_samples,
            },
            "valid_by_fault": [c.as_json() for c in self.valid_by_fault],
            "duplicates": {"published": self.duplicates_published},
            "malformed": {
                "expected": self.malformed_expected,
                "dead_lettered": self.malformed_dead_lettered,
                "wrong_reason": self.malformed_wrong_reason,
                "missing": self.malformed_missing,
                "repeats": self.dead_letter_repeats,
            },
            "malformed_by_fault": [c.as_json() for c in self.malformed_by_fault],
            "unexpected": {
                "samples": self.unexpected_samples,
                "dead_letters": self.unexpected_dead_letters,
            },
            "ignored": {"samples": self.ignored_samples, "dead_letters": self.ignored_dead_letters},
            "examples": self.examples,
        }

"""The verdict: what the pipeline made of a simulation, judged against its truth file (pure).

Inputs are values: the truth file's lines, the idempotency keys the store holds (with repeats, if
any) and the dead letters (stage, reason, payload digest, MQTT topic). The output says, per
category, what was expected, what matched, what is missing, doubled or unexpected.

Only what belongs to the run is judged: stored samples of the VINs the truth file names, and
dead letters whose payload the run sent or whose MQTT topic is one of its topics (or unknown).
Everything else in a shared store or dead-letter topic is counted as ignored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas.records import SampleKey
from simulator.truth.read import (
    ValidMessage,
    malformed_expectations,
    read_truth,
    run_scope,
    valid_messages,
)
from simulator.truth.verdict_model import CLEAN, DeadLetterSeen, FaultCount, MalformedCount, Verdict

__all__ = [
    "DeadLetterSeen",
    "Verdict",
    "expected_sample_keys",
    "judge",
    "malformed_expectations",
    "read_truth",
]


def expected_sample_keys(lines: Iterable[Mapping[str, Any]]) -> set[SampleKey]:
    """Every sample the store must hold, from the truth file's ``valid`` message lines."""
    return {k for m in valid_messages(lines) for k in m.keys}


def judge(
    truth: Sequence[Mapping[str, Any]],
    stored: Iterable[SampleKey],
    dead_letters: Iterable[DeadLetterSeen],
    *,
    max_examples: int = 5,
) -> Verdict:
    """Compare what the store and the dead-letter topic hold with what was sent."""
    scope = run_scope(truth)
    messages = valid_messages(truth)
    expected = {k for m in messages for k in m.keys}
    stored_counts: Counter[SampleKey] = Counter()
    ignored_samples = 0
    for key in stored:
        if key[0] in scope.vins:
            stored_counts[key] += 1
        else:
            ignored_samples += 1
    missing = expected - stored_counts.keys()
    doubled = {k for k, c in stored_counts.items() if c > 1}
    unexpected = stored_counts.keys() - expected
    seen_by_digest: dict[str, list[DeadLetterSeen]] = defaultdict(list)
    ignored_letters = 0
    for letter in dead_letters:
        if scope.owns(letter.sha256, letter.mqtt_topic):
            seen_by_digest[letter.sha256].append(letter)
        else:
            ignored_letters += 1

    by_reason: dict[str, Counter[str]] = defaultdict(Counter)
    by_fault: dict[str, MalformedCount] = {}
    wrong: list[str] = []
    absent: list[str] = []
    matched = repeats = 0
    malformed = malformed_expectations(truth)
    for m in malformed:
        label = f"{m.stage}:{m.reason}"
        count = by_fault.setdefault(m.fault, MalformedCount(m.fault, m.stage, m.reason))
        count.expected += 1
        by_reason[label]["expected"] += 1
        seen = seen_by_digest.get(m.sha256, [])
        right = [s for s in seen if (s.stage, s.reason) == (m.stage, m.reason)]
        if right:
            matched += 1
            count.dead_lettered += 1
            by_reason[label]["dead_lettered"] += 1
            repeats += len(right) - 1
            count.repeats += len(right) - 1
        elif seen:
            got = ", ".join(sorted({f"{s.stage}:{s.reason}" for s in seen}))
            wrong.append(f"message {m.n} ({m.fault}): expected {label}, got {got}")
            count.wrong_reason += 1
            by_reason[label]["wrong_reason"] += 1
        else:
            absent.append(f"message {m.n} ({m.fault}): expected {label}, not dead-lettered")
            count.missing += 1
            by_reason[label]["missing"] += 1
    malformed_digests = {m.sha256 for m in malformed}
    unexpected_letters = [
        f"{s.stage}:{s.reason} for a {'valid' if d in scope.valid_digests else 'unknown'} message"
        for d, letters in seen_by_digest.items()
        if d not in malformed_digests
        for s in letters
    ]
    return Verdict(
        valid_messages=len(messages),
        expected_samples=len(expected),
        stored_once=sum(1 for k in expected if stored_counts.get(k) == 1),
        missing_samples=len(missing),
        doubled_samples=len(doubled),
        unexpected_samples=len(unexpected),
        duplicates_published=scope.duplicates,
        malformed_expected=len(malformed),
        malformed_dead_lettered=matched,
        malformed_wrong_reason=len(wrong),
        malformed_missing=len(absent),
        dead_letter_repeats=repeats,
        unexpected_dead_letters=len(unexpected_letters),
        ignored_samples=ignored_samples,
        ignored_dead_letters=ignored_letters,
        valid_by_fault=_valid_by_fault(messages, stored_counts),
        malformed_by_fault=tuple(by_fault[k] for k in sorted(by_fault)),
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


def _valid_by_fault(
    messages: list[ValidMessage], stored: Mapping[SampleKey, int]
) -> tuple[FaultCount, ...]:
    counts: dict[str, FaultCount] = {}
    for m in messages:
        once = sum(1 for k in m.keys if stored.get(k) == 1)
        gone = sum(1 for k in m.keys if k not in stored)
        twice = sum(1 for k in m.keys if stored.get(k, 0) > 1)
        for tag in m.faults or (CLEAN,):
            c = counts.setdefault(tag, FaultCount(tag))
            c.messages += 1
            c.samples += len(m.keys)
            c.stored_once += once
            c.missing += gone
            c.doubled += twice
    order = sorted(counts, key=lambda t: (t != CLEAN, t))
    return tuple(counts[t] for t in order)

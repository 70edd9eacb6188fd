"""Pure core of ``journeygate dlq``: choosing dead letters and planning their replay.

A dead letter is replayed by producing its key, value and original headers (plus
``replayed_from``) to the topic it came from, where the stage that rejected it reads it again,
after the cause was fixed (a vehicle registered since, a stage upgraded). It is then marked on the
dead-letter topic itself (a record with the ``dlq_replay_of`` header), so a later replay skips it.
A crash between the two re-sends it at the next replay: the pipeline absorbs a repeat as it
absorbs any (``(vin, boot_id, seq)``, the store's unique keys, deterministic ids downstream).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kernel import headers as h
from kernel.deadletters import DeadLetter, DeadLetterLog
from kernel.kafka import OutRecord, Topics


@dataclass(frozen=True, slots=True)
class Filter:
    reason: str | None = None
    stage: str | None = None

    def admits(self, letter: DeadLetter) -> bool:
        return (self.reason is None or letter.reason == self.reason) and (
            self.stage is None or letter.stage == self.stage
        )


@dataclass(frozen=True, slots=True)
class Replay:
    letter: DeadLetter
    topic: str
    record: OutRecord


@dataclass(frozen=True, slots=True)
class Skipped:
    letter: DeadLetter
    why: str


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    replays: tuple[Replay, ...]
    skipped: tuple[Skipped, ...]
    already: int
    """Dead letters that match but were replayed before."""


def chosen(log: DeadLetterLog, how: Filter) -> list[DeadLetter]:
    return [d for d in log.letters if how.admits(d)]


@dataclass(frozen=True, slots=True)
class Count:
    stage: str
    reason: str
    count: int
    replayed: int
    newest_ts_ms: int | None


def counts(letters: Iterable[DeadLetter], replayed: frozenset[str]) -> list[Count]:
    """Per (stage, reason): dead letters, of which replayed, newest time; by stage, reason."""
    total: Counter[tuple[str, str]] = Counter()
    done: Counter[tuple[str, str]] = Counter()
    newest: dict[tuple[str, str], int] = {}
    for d in letters:
        k = (d.stage, d.reason)
        total[k] += 1
        done[k] += d.position in replayed
        if d.ts_ms is not None:
            newest[k] = max(newest.get(k, d.ts_ms), d.ts_ms)
    return [Count(*k, total[k], done[k], newest.get(k)) for k in sorted(total)]


def plan_replay(log: DeadLetterLog, how: Filter, topics: Topics, now_ms: int) -> ReplayPlan:
    """What ``journeygate dlq replay`` sends: each chosen dead letter not replayed yet, back to
    the pipeline topic it came from. Skipped: a value cut to the size limit (not the payload the
    device sent) and a source that is not a topic of this deployment (the bridge's dead letters
    come from MQTT: a device must publish them again)."""
    ours = {getattr(topics, name) for name in topics.__slots__} - {topics.dlq}
    replays: list[Replay] = []
    skipped: list[Skipped] = []
    already = 0
    for d in chosen(log, how):
        if d.position in log.replayed:
            already += 1
        elif d.cut:
            skipped.append(Skipped(d, "its value was cut to the size limit"))
        elif d.source_topic not in ours:
            skipped.append(Skipped(d, f"it came from {d.source_topic or 'no topic'}, not Kafka"))
        else:
            replays.append(Replay(d, d.source_topic, replay_record(d, topics.dlq, now_ms)))
    return ReplayPlan(tuple(replays), tuple(skipped), already)


def replay_record(letter: DeadLetter, dlq_topic: str, now_ms: int) -> OutRecord:
    """``letter`` as its stage will read it again: its key, value and original headers, with
    where it was dead-lettered and when it was replayed (replacing an earlier replay's)."""
    ours = (h.HEADER_REPLAYED_FROM, h.HEADER_REPLAYED_TS_MS)
    kept = [(k, v) for k, v in letter.headers if k not in ours]
    replay = [
        (h.HEADER_REPLAYED_FROM, f"{dlq_topic}:{letter.position}".encode()),
        (h.HEADER_REPLAYED_TS_MS, str(now_ms).encode()),
    ]
    return OutRecord(letter.key, letter.value, [*kept, *replay])


def marker(letter: DeadLetter) -> OutRecord:
    """The record that marks ``letter`` as replayed, on the dead-letter topic."""
    return OutRecord(letter.key, b"", [(h.HEADER_DLQ_REPLAY_OF, letter.position.encode())])


def shown(value: bytes) -> str:
    """A value as text if it is UTF-8, else as hex."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + value.hex()


def headers_text(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    return {k: shown(v) for k, v in headers}

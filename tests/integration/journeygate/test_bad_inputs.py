"""Bad input through every command: one line naming the problem and a non-zero exit, never a
traceback. Each row is a command line as a user might type it; the servers it names do not
exist (port 1), so a row that got past its input would fail on them, also without a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

NOWHERE_KAFKA = ("--kafka-bootstrap", "127.0.0.1:1")
NOWHERE_DB = ("--database-url", "postgresql://nobody@127.0.0.1:1/none")
NOWHERE_MQTT = ("--mqtt-url", "mqtt://127.0.0.1:1")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad")
    binary = root / "binary.toml"
    binary.write_bytes(bytes(range(256)) * 3)
    latin = root / "latin.toml"
    latin.write_bytes(b'name = "caf\xe9"\n')
    notoml = root / "notoml.toml"
    notoml.write_text("this is = = not toml\n")
    # A truth file whose header lacks the times the scorers read, and one cut after a line
    # about a vehicle no line described (as a file cut short, or edited by hand, is).
    header = {"type": "header", "format": "journeygate-simulator-truth", "version": 5}
    no_times = root / "no-times.jsonl"
    no_times.write_text(json.dumps(header) + "\n")
    stranger = root / "stranger.jsonl"
    times = {"now": "2026-06-15T12:00:00+00:00", "start": "2026-04-16T12:00:00+00:00"}
    about = {"type": "trajectory", "vin": "1HGCM82633A004352", "first_day": "2026-04-16"}
    stranger.write_text(json.dumps({**header, **times}) + "\n" + json.dumps(about) + "\n")
    return {
        "binary": str(binary),
        "latin": str(latin),
        "notoml": str(notoml),
        "dir": str(root),
        "no_times": str(no_times),
        "stranger": str(stranger),
    }


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        yield int(held.getsockname()[1])


def rows(f: dict[str, str], busy: int) -> list[tuple[str, list[str], dict[str, str], str]]:
    """(what, argv, extra environment, a fragment of the line expected on stderr)."""
    return [
        ("binary scenario", ["simulate", "--scenario", f["binary"], "--plan-only"], {},
         "not UTF-8 text"),
        ("non-UTF-8 scenario", ["simulate", "--scenario", f["latin"], "--plan-only"], {},
         "not UTF-8 text"),
        ("scenario not TOML", ["simulate", "--scenario", f["notoml"], "--plan-only"], {},
         "not valid TOML"),
        ("missing scenario", ["simulate", "--scenario", f["dir"] + "/none.toml"], {},
         "cannot read scenario"),
        ("scenario a directory", ["simulate", "--scenario", f["dir"], "--plan-only"], {},
         "cannot read scenario"),
        ("unwritable truth file", ["simulate", "--truth", "/proc/none/truth.jsonl",
                                   *NOWHERE_MQTT, *NOWHERE_DB], {}, "journeygate"),
        ("bad bootstrap", ["topics", "--kafka-bootstrap", "::::"], {}, "give host:port"),
        ("bootstrap without port", ["process", "store", "--kafka-bootstrap", "kafka"], {},
         "give host:port"),
        ("bad database URL", ["migrate", "--database-url", "mysql://x/y"], {}, "database_url"),
        ("bad MQTT URL", ["bridge", "--mqtt-url", "http://x"], {}, "mqtt_url"),
        ("setting not a number", ["topics", *NOWHERE_KAFKA],
         {"JOURNEYGATE_KAFKA_PARTITIONS": "abc"}, "kafka_partitions"),
        ("retention not JSON", ["topics", *NOWHERE_KAFKA],
         {"JOURNEYGATE_KAFKA_RETENTION_DAYS": "{oops"}, "kafka_retention_days"),
        ("store retention of a plain table", ["migrate", *NOWHERE_DB],
         {"JOURNEYGATE_STORE_RETENTION_DAYS": '{"alerts": 30}'}, "store_retention_days"),
        ("store compression age NaN", ["migrate", *NOWHERE_DB],
         {"JOURNEYGATE_STORE_COMPRESS_AFTER_DAYS": '{"signals": NaN}'},
         "store_compress_after_days"),
        ("binary rules file", ["process", "journey", "--rules", f["binary"], *NOWHERE_KAFKA,
                               *NOWHERE_DB], {}, "not UTF-8 text"),
        ("binary registry file", ["registry", "import", f["binary"], *NOWHERE_DB], {},
         "cannot read"),
        ("binary services file", ["services", "import", f["binary"], *NOWHERE_KAFKA], {},
         "cannot read"),
        ("binary truth file (score)", ["score", "--truth", f["binary"], *NOWHERE_DB], {},
         "is not JSON"),
        ("binary truth file (verify)", ["verify", "--truth", f["binary"], *NOWHERE_DB], {},
         "is not JSON"),
        ("truth header without times (score)", ["score", "--truth", f["no_times"], *NOWHERE_DB],
         {}, "line 1 lacks the field 'now'"),
        ("truth header without times (alerts)", ["score-alerts", "--truth", f["no_times"],
                                                 *NOWHERE_DB], {}, "line 1 lacks the field"),
        ("truth about an unknown vehicle", ["score-alerts", "--truth", f["stranger"],
                                            *NOWHERE_DB], {},
         "line 2 is about '1HGCM82633A004352', which no vehicle line describes"),
        ("bad date", ["funnel", "--since", "yesterday", *NOWHERE_DB], {}, "--since"),
        ("bad bench part", ["bench", "--parts", "nope"], {}, "--parts"),
        ("bad dead-letter position", ["dlq", "show", "x", *NOWHERE_KAFKA], {},
         "give PARTITION:OFFSET"),
        ("negative limit", ["status", "--max-lag", "-5"], {}, "--max-lag"),
        ("busy metrics port", ["process", "store", "--metrics-port", str(busy), *NOWHERE_KAFKA,
                               *NOWHERE_DB], {}, str(busy)),
        ("unreachable store", ["status", *NOWHERE_KAFKA, *NOWHERE_DB], {}, "127.0.0.1:1"),
        ("unreachable Kafka", ["dlq", "list", *NOWHERE_KAFKA], {}, "127.0.0.1:1"),
        ("soak of no time", ["soak", "--minutes", "0"], {}, "--minutes"),
        ("soak minutes not a number", ["soak", "--minutes", "ten"], {}, "--minutes"),
        ("soak at no rate", ["soak", "--rate", "0"], {}, "--rate"),
        ("soak of one vehicle", ["soak", "--vehicles", "1"], {}, "--vehicles"),
        ("soak faults never", ["soak", "--fault-interval-s", "-3"], {}, "--fault-interval-s"),
    ]  # fmt: skip


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeygate", *argv],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, **env},
    )


def test_no_bad_input_gives_a_traceback(files: dict[str, str], busy_port: int) -> None:
    table = rows(files, busy_port)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda row: run(row[1], row[2]), table))
    failures = []
    for (what, _, _, expected), result in zip(table, results, strict=True):
        if (
            result.returncode == 0
            or "Traceback" in result.stderr + result.stdout
            or "Unclosed" in result.stderr  # a client left open by the failure warns at exit
            or expected not in result.stderr
        ):
            failures.append(f"{what}: exit {result.returncode}: {result.stderr[-400:]!r}")
    assert not failures, "\n".join(failures)


def test_the_table_covers_every_command(files: dict[str, str]) -> None:
    named = {row[1][0] for row in rows(files, 1)}
    cli = Path(__file__).resolve().parents[3] / "journeygate" / "cli.py"
    assert {"simulate", "topics", "process", "migrate", "bridge", "registry", "services",
            "score", "verify", "funnel", "bench", "dlq", "status",
            "soak"} <= named, cli  # fmt: skip

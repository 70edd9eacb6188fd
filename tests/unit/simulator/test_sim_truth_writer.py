"""The truth file on a full disk: one line naming the file, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigError
from simulator.truth.record import TruthWriter

FULL = Path("/dev/full")  # every write fails with ENOSPC
NO_SPACE = r"^cannot write truth file /dev/full: No space left on device$"

pytestmark = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")


def test_a_full_disk_at_the_final_flush_is_one_error_naming_the_file() -> None:
    with pytest.raises(ConfigError, match=NO_SPACE), TruthWriter(FULL) as truth:
        truth.write(b'{"type":"header"}\n')  # buffered: the disk refuses it at close


def test_a_full_disk_during_the_run_is_one_error_naming_the_file() -> None:
    with pytest.raises(ConfigError, match=NO_SPACE), TruthWriter(FULL) as truth:
        for _ in range(10_000):  # beyond any buffer
            truth.write(b"x" * 100 + b"\n")


def test_an_error_of_the_run_is_not_hidden_by_the_close() -> None:
    with pytest.raises(RuntimeError, match="publishing failed"), TruthWriter(FULL) as truth:
        truth.write(b"x\n")
        raise RuntimeError("publishing failed")

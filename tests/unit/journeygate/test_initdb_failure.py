"""A failed initdb is one line that keeps its cause, not only what initdb printed last."""

from __future__ import annotations

from journeygate.embedded.postgres import initdb_failure

# The shape of a failure seen when another process took the data directory's parent away from
# the server's user mid-initdb: the cause first, then the statement, then initdb cleaning up.
SEEN = """\
The files belonging to this database system will be owned by user "pgserver".
creating template1 database in /tmp/x/pgdata/base/1 ... ok
2026-11-30 07:50:01.123 UTC [6930] FATAL:  could not open file "base/1/1259": Permission denied
2026-11-30 07:50:01.123 UTC [6930] STATEMENT:  CREATE DATABASE template0 IS_TEMPLATE = true
child process exited with exit code 1
initdb: removing data directory "/tmp/x/pgdata"
initdb: error: failed to remove data directory
"""


def test_the_cause_comes_first_and_the_last_line_follows() -> None:
    line = initdb_failure(SEEN)
    assert "\\n" not in line and "\n" not in line
    assert line.startswith("initdb failed: 2026-11-30 07:50:01.123 UTC [6930] FATAL:  could not")
    assert line.endswith("(then: initdb: error: failed to remove data directory)")


def test_a_single_error_line_is_not_repeated() -> None:
    text = 'initdb: error: directory "/d" exists but is not empty\n'
    assert (
        initdb_failure(text)
        == 'initdb failed: initdb: error: directory "/d" exists but is not empty'
    )


def test_no_error_word_keeps_the_last_line_and_no_output_says_so() -> None:
    assert initdb_failure("something\nwent wrong\n") == "initdb failed: went wrong"
    assert initdb_failure("  \n") == "initdb failed with no output"


def test_a_long_cause_is_cut() -> None:
    assert len(initdb_failure("FATAL: " + "x" * 5000)) < 330

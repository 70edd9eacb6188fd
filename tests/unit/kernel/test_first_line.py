"""One-line reports of an exception."""

from __future__ import annotations

from kernel.errors import first_line


def test_the_first_line_of_a_message_or_the_type_of_one_without() -> None:
    query_error = ValueError(
        'relation "consumer_offsets" does not exist\nLINE 1: SELECT 1 FROM consumer_offsets\n  ^'
    )
    assert first_line(query_error) == 'relation "consumer_offsets" does not exist'
    assert first_line(TimeoutError()) == "TimeoutError"
    assert first_line(OSError("  \n")) == "OSError"

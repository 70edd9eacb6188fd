"""A payload means one thing to every JSON parser: repeated keys are rejected (``duplicate_key``),
and what is accepted is what a parser that keeps the first copy of a key reads too."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.deadletters import Reason
from kernel.errors import DataError
from processors.normalize.decode import decode_json

# A JSON text built from pairs, so that an object may repeat a key as a device could send it.
Node = Any
KEYS = st.sampled_from(["vin", "seq", "a", "a:b", "ts_ms", "é", ":", 'x"y'])
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from('ab:é"\\n{}[],'), max_size=6),
)


def _objects(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.builds(tuple, st.lists(st.tuples(KEYS, children), max_size=5)),  # an object's pairs
    )


NODES = st.recursive(LEAVES, _objects, max_leaves=20)


def write(node: Node, ascii_only: bool) -> str:
    """``node`` as JSON text: a tuple is an object of its (key, value) pairs, repeats kept."""
    if isinstance(node, tuple):
        members = (
            f"{json.dumps(k, ensure_ascii=ascii_only)}: {write(v, ascii_only)}" for k, v in node
        )
        return "{" + ", ".join(members) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(write(v, ascii_only) for v in node) + "]"
    return json.dumps(node, ensure_ascii=ascii_only)


def repeats(node: Node) -> bool:
    if isinstance(node, tuple):
        keys = [k for k, _ in node]
        return len(keys) != len(set(keys)) or any(repeats(v) for _, v in node)
    if isinstance(node, list):
        return any(repeats(v) for v in node)
    return False


def first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


@settings(max_examples=400)
@given(NODES, st.booleans())
def test_repeated_keys_are_rejected_and_the_rest_reads_the_same_to_a_first_key_parser(
    node: Node, ascii_only: bool
) -> None:
    text = write(node, ascii_only)
    if repeats(node):
        with pytest.raises(DataError) as caught:
            decode_json(text.encode())
        assert caught.value.reason == Reason.DUPLICATE_KEY
    else:
        assert decode_json(text.encode()) == json.loads(text, object_pairs_hook=first_key_wins)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "x", "a": "\\u003a"}',  # the repeat's colon count is made up by an escaped colon
        '{"a": "\\u003a:", "a": 1, "b": "\\u003A"}',
        '{"s": {"k": 1, "k": 2}}',
        '[{"k": 1}, {"k": 2, "k": 3}]',
    ],
)
def test_escaped_colons_do_not_hide_a_repeat(text: str) -> None:
    with pytest.raises(DataError) as caught:
        decode_json(text.encode())
    assert caught.value.reason == Reason.DUPLICATE_KEY
    assert "repeated" in caught.value.detail


def test_colons_in_keys_and_strings_are_not_repeats() -> None:
    text = '{"a:b": "c:d", "e": ["::", {"f": "\\u003a"}], "g": "h"}'
    assert decode_json(text.encode()) == {"a:b": "c:d", "e": ["::", {"f": ":"}], "g": "h"}


def test_a_repeat_deeper_than_the_writer_goes_is_still_found() -> None:
    text = "[" * 300 + '{"k": 1, "k": 2}' + "]" * 300
    with pytest.raises(DataError) as caught:
        decode_json(text.encode())
    assert caught.value.reason == Reason.DUPLICATE_KEY

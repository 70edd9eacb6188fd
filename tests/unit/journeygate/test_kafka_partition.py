"""Records sent in batches land on the partition ``send()`` would choose."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from journeygate.kafka import murmur2, partition_for


@given(st.binary(max_size=300))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=500))
def test_a_keyed_record_goes_where_the_default_partitioner_sends_it(
    key: bytes, count: int
) -> None:
    partitions = list(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


@given(st.lists(st.integers(min_value=0, max_value=99), min_size=1, max_size=10, unique=True))
def test_a_record_without_key_goes_to_one_of_the_partitions(partitions: list[int]) -> None:
    assert partition_for(None, sorted(partitions)) in partitions

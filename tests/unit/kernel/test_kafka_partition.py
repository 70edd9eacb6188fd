"""Records sent in batches land on the partition ``send()`` would choose."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from kernel.partitioner import (
    VECTOR_MIN_KEYS,
    murmur2,
    murmur2_same_length,
    partition_for,
    partitions_of,
)


@given(st.binary(max_size=300))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@given(
    st.integers(min_value=0, max_value=40).flatmap(
        lambda n: st.lists(st.binary(min_size=n, max_size=n), min_size=1, max_size=60)
    )
)
def test_the_vector_hash_of_keys_of_one_length_is_kafkas(keys: list[bytes]) -> None:
    assert murmur2_same_length(keys).tolist() == [aiokafka_murmur2(k) for k in keys]


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=500))
def test_a_keyed_record_goes_where_the_default_partitioner_sends_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


@given(
    st.lists(st.binary(min_size=17, max_size=17), min_size=VECTOR_MIN_KEYS, max_size=200),
    st.lists(st.binary(max_size=30), max_size=30),
    st.integers(min_value=1, max_value=64),
)
def test_a_batch_goes_where_the_default_partitioner_sends_each_key(
    vins: list[bytes], others: list[bytes], count: int
) -> None:
    """Enough keys of one length take the vector path; the odd lengths take the scalar one."""
    keys = vins + others
    partitions = [p * 3 for p in range(count)]  # partition ids need not be 0..n-1
    expected = [DefaultPartitioner()(k, partitions, partitions) for k in keys]
    assert partitions_of(keys, partitions) == expected


@given(st.lists(st.integers(min_value=0, max_value=99), min_size=1, max_size=10, unique=True))
def test_a_record_without_key_goes_to_one_of_the_partitions(partitions: list[int]) -> None:
    assert partition_for(None, sorted(partitions)) in partitions
    assert set(partitions_of([None] * 30, sorted(partitions))) <= set(partitions)

"""Kafka's default key partitioner, for one key or a whole batch of keys at once. Pure.

A keyed record goes to partition ``murmur2(key) & 0x7fffffff`` modulo the partition count, as in
the Java client and aiokafka's ``DefaultPartitioner``; a record without a key goes to a random
partition. Producers that build their own batches (``create_batch``/``send_batch``) must place
each record where ``send()`` would, so that a vehicle's records stay in one partition whichever
way they were produced.

:func:`partitions_of` hashes a batch with numpy: keys of one length are hashed together, one
vector operation per four-byte word, instead of a Python loop per key (about 15 times cheaper
per key on batches of hundreds).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from aiokafka.partitioner import DefaultPartitioner

_M = 0x5BD1E995
_SEED = 0x9747B28C
_U32 = 0xFFFFFFFF
# Below this many keys of one length, the scalar hash is cheaper than setting up numpy.
VECTOR_MIN_KEYS = 24

_random_partition = DefaultPartitioner()


@lru_cache(maxsize=64)
def _words(count: int) -> Callable[[bytes], tuple[int, ...]]:
    return struct.Struct(f"<{count}I").unpack_from


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of one key, its four-byte words unpacked at once."""
    m, u32 = _M, _U32
    length = len(data)
    h = (_SEED ^ length) & u32
    for k in _words(length >> 2)(data):
        k = (k * m) & u32
        h = ((h * m) & u32) ^ (((k ^ (k >> 24)) * m) & u32)
    whole, tail = length & ~3, length & 3
    if tail >= 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h = ((h ^ data[whole]) * m) & u32
    h ^= h >> 13
    h = (h * m) & u32
    return h ^ (h >> 15)


def murmur2_same_length(keys: Sequence[bytes]) -> npt.NDArray[np.uint32]:
    """:func:`murmur2` of each key, all keys of one length, computed as vectors."""
    length = len(keys[0])
    count = len(keys)
    m = np.uint32(_M)
    h = np.full(count, (_SEED ^ length) & _U32, dtype=np.uint32)
    if length == 0:
        data = np.zeros((count, 0), dtype=np.uint8)
    else:
        data = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(count, length)
    whole = length & ~3
    if whole:
        words = np.ascontiguousarray(data[:, :whole]).view("<u4")
        for col in range(whole >> 2):
            k = words[:, col] * m
            k ^= k >> np.uint32(24)
            k *= m
            h *= m
            h ^= k
    tail = length & 3
    if tail >= 3:
        h ^= data[:, whole + 2].astype(np.uint32) << np.uint32(16)
    if tail >= 2:
        h ^= data[:, whole + 1].astype(np.uint32) << np.uint32(8)
    if tail >= 1:
        h ^= data[:, whole].astype(np.uint32)
        h *= m
    h ^= h >> np.uint32(13)
    h *= m
    h ^= h >> np.uint32(15)
    return h


def partition_for(key: bytes | None, partitions: Sequence[int]) -> int:
    """The partition ``send()`` chooses: murmur2 of the key, or a random one without a key."""
    if key is None:
        return int(_random_partition(None, partitions, partitions))
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


def partitions_of(keys: Sequence[bytes | None], partitions: Sequence[int]) -> list[int]:
    """:func:`partition_for` of every key, keys of one length hashed together."""
    by_length: dict[int, list[int]] = {}
    chosen = [0] * len(keys)
    for i, key in enumerate(keys):
        if key is None:
            chosen[i] = partition_for(None, partitions)
        else:
            by_length.setdefault(len(key), []).append(i)
    count = len(partitions)
    for members in by_length.values():
        if len(members) < VECTOR_MIN_KEYS:
            for i in members:
                chosen[i] = partition_for(keys[i], partitions)
            continue
        same = [key for i in members if (key := keys[i]) is not None]
        hashes = murmur2_same_length(same)
        indexes = ((hashes & np.uint32(0x7FFFFFFF)) % np.uint32(count)).tolist()
        for i, index in zip(members, indexes, strict=True):
            chosen[i] = partitions[index]
    return chosen

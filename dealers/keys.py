"""Dealer API keys (pure): ``jg_`` and 32 random bytes, URL-safe; stored only as SHA-256.

A key carries 256 bits of randomness, so a plain SHA-256 cannot be reversed or guessed: no salt
or slow hash is needed, and the hash can be looked up by an index.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "jg_"
_TOKEN_BYTES = 32
# secrets.token_urlsafe(32): 32 bytes in unpadded base64url are 43 characters.
_SHAPE = re.compile(r"^jg_[A-Za-z0-9_-]{43}$")
DEALER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def generate_key() -> str:
    """A new random key, ``jg_`` followed by 43 URL-safe characters."""
    return PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def looks_like_key(text: str) -> bool:
    """Whether ``text`` has the shape of a key (checked before any lookup)."""
    return _SHAPE.fullmatch(text) is not None


def hash_key(key: str) -> bytes:
    """The 32-byte SHA-256 of a key, as stored in ``dealer_keys.key_hash``."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def same_hash(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two key hashes."""
    return hmac.compare_digest(a, b)


def valid_dealer_id(text: str) -> bool:
    """Letters, digits, ``.``, ``_``, ``-``; 1 to 64 characters, the first a letter or digit."""
    return DEALER_ID.fullmatch(text) is not None

"""Sessions of the dealer inbox page (psycopg 3, parametrised SQL; table ``dealer_sessions``,
migration 0012).

Signing in with an API key opens a session: a token of 32 random bytes, URL-safe, kept by the
browser in an HttpOnly cookie; the store keeps only its SHA-256 (as for keys, 256 random bits
need no salt nor slow hash). A session belongs to the key that opened it and works while that key
is live and the session has not expired: rotating the dealer's keys ends its sessions at once.
Each session has its own anti-forgery token, which every form of the page sends back.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dealers.store import Caller, Conn

DEFAULT_LIFETIME_S = 12 * 3600.0
_TOKEN_BYTES = 32
# secrets.token_urlsafe(32): 43 characters.
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True, slots=True)
class Session:
    dealer_id: str
    key_id: int
    csrf_token: str
    expires_at: datetime


def new_token() -> str:
    """A new random token (a session's, a form's): 43 URL-safe characters."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def looks_like_token(text: str) -> bool:
    """Whether ``text`` has the shape of a token (checked before any lookup)."""
    return _SHAPE.fullmatch(text) is not None


def hash_token(token: str) -> bytes:
    """The 32-byte SHA-256 of a session token, as stored in ``dealer_sessions.token_hash``."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of a token sent back with the one expected."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def open_session(conn: Conn, caller: Caller, lifetime: timedelta) -> tuple[str, Session]:
    """Open a session of the caller's key for ``lifetime``: its token (to give to the browser,
    never stored) and the session. Expired sessions of every dealer are deleted first."""
    token = new_token()
    csrf = new_token()
    with conn.transaction():
        conn.execute("DELETE FROM dealer_sessions WHERE expires_at <= now()")
        row = conn.execute(
            "INSERT INTO dealer_sessions (token_hash, dealer_id, key_id, csrf_token, expires_at)"
            " VALUES (%s, %s, %s, %s, now() + %s) RETURNING expires_at",
            (hash_token(token), caller.dealer_id, caller.key_id, csrf, lifetime),
        ).fetchone()
    assert row is not None
    return token, Session(caller.dealer_id, caller.key_id, csrf, row[0].astimezone(UTC))


def find_session(conn: Conn, token: str) -> Session | None:
    """The session of this token if it has not expired and its key is still live, else None."""
    if not looks_like_token(token):
        return None
    token_hash = hash_token(token)
    row = conn.execute(
        "SELECT s.dealer_id, s.key_id, s.csrf_token, s.expires_at, s.token_hash"
        " FROM dealer_sessions s"
        " JOIN dealer_keys k ON k.key_id = s.key_id AND k.dealer_id = s.dealer_id"
        " WHERE s.token_hash = %s AND s.expires_at > now() AND k.revoked_at IS NULL",
        (token_hash,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[4]), token_hash):
        return None
    return Session(str(row[0]), int(row[1]), str(row[2]), row[3].astimezone(UTC))


def close_session(conn: Conn, token: str) -> None:
    """End the session of this token (nothing if there is none)."""
    if looks_like_token(token):
        conn.execute("DELETE FROM dealer_sessions WHERE token_hash = %s", (hash_token(token),))

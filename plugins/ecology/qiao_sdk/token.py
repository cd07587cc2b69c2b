"""Platform access tokens, cached in the connection's ``kv`` until shortly before they expire. Each call runs in a
fresh instance, so the cache in ``kv`` is what lets concurrent and later calls share one token instead of fetching
their own (platforms rate-limit their token endpoints). Same keys and margins as the Rust SDK's ``token`` module."""

from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from componentize_py_types import Err
from wit_world.imports import crypto, kv, types

from . import json_kv, logging

T = TypeVar("T")

#: The longest ttl ``kv.set`` takes (a u32 of seconds).
_MAX_TTL = 2**32 - 1


@dataclass
class Token:
    value: str
    #: Lifetime the platform announced, in seconds.
    expires_in: int


def cache_key(kind: str, credentials: Sequence[str]) -> str:
    """A kv key for a token of ``kind`` issued to these credentials: changing a secret in the config must not reuse the
    old secret's token. The credentials are hashed, so nothing secret is stored as a key."""
    digest = crypto.sha256("\n".join(credentials).encode())
    return f"token:{kind}:{bytes(digest[:12]).hex()}"


def get(key: str, fetch: Callable[[], Token]) -> str:
    """The cached token, or a fresh one from ``fetch`` (then cached for its lifetime minus a safety margin)."""
    cached = json_kv.get(key)
    if isinstance(cached, str):
        return cached
    token = fetch()
    # Refresh 5 minutes early (or at half-life for short-lived tokens), so a token never expires mid-call.
    ttl = token.expires_in - min(token.expires_in // 2, 300)
    if ttl > 0:
        # A token that cannot be cached (a full kv quota) still serves this call; the next fetches its own.
        json_kv.keep(key, token.value, min(ttl, _MAX_TTL))
    return token.value


def with_token(key: str, fetch: Callable[[], Token], call: Callable[[str], T]) -> T:
    """Runs ``call`` with a token. When the platform rejects the token (`unauthorized`: expired early, revoked,
    rotated), the cached one is dropped and ``call`` runs once more with a fresh token."""
    try:
        return call(get(key, fetch))
    except Err as e:
        if not (isinstance(e.value, types.Error) and e.value.kind == types.ErrorKind.UNAUTHORIZED):
            raise
        logging.info("access token rejected; fetching a new one and retrying once",
                     platform_code=e.value.platform_code or "")
    kv.delete(key)
    return call(get(key, fetch))

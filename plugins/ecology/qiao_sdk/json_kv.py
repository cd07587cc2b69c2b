"""JSON values and counters in the connection's ``kv`` store."""

import json
from typing import Any, Optional

from componentize_py_types import Err
from wit_world.imports import kv

from . import logging
from .errors import internal


def get(key: str) -> Any:
    """A stored value, or None if missing (or unreadable: treated as missing, to be rewritten)."""
    data = kv.get(key)
    if data is None:
        return None
    try:
        return json.loads(bytes(data))
    except ValueError:
        return None


def set(key: str, value: Any, ttl_seconds: Optional[int] = None) -> None:  # noqa: A001 (the Rust SDK's name)
    """Stores ``value`` as JSON; with ``ttl_seconds`` it disappears after that long."""
    try:
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as e:
        raise internal(f"cannot store {key} as JSON: {e}") from None
    kv.set(key, data, ttl_seconds)


def keep(key: str, value: Any, ttl_seconds: Optional[int] = None) -> None:
    """``set`` for what a call can do without once the platform has acted (a cache, a note for a later call): a
    refusal (the connection's kv quota is full, the store unavailable) is logged as a warning, not raised. Failing a
    call whose work is done would make the outbox retry it (a second message, a second to-do) or give up on it
    although it happened."""
    try:
        set(key, value, ttl_seconds)
    except Err as e:
        logging.warn("a kv value was not stored; the call goes on without it", key=key,
                     error=getattr(e.value, "message", e.value))


def next(key: str) -> int:  # noqa: A001 (the Rust SDK's name)
    """Adds one to a counter and returns the new value (1 the first time). Not atomic across concurrent calls of one
    connection: use it for ids in tests and demos, not for money."""
    value = get(key)
    n = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
    set(key, n + 1)
    return n + 1

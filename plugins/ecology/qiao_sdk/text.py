"""Encodings connectors need for signatures and URLs. No host imports: usable anywhere."""

from typing import Iterable, Mapping, Optional, Tuple, Union
from urllib.parse import quote, unquote_plus

#: Query parameters as a mapping or as pairs (pairs keep repeated keys); ``None`` values are left out.
Params = Union[Mapping[str, object], Iterable[Tuple[str, object]]]


def hex(data: bytes) -> str:  # noqa: A001 (the Rust SDK's name)
    return bytes(data).hex()


def urlencode(text: str) -> str:
    """Percent-encodes everything but RFC 3986 unreserved characters (for query values)."""
    return quote(text, safe="-._~")


def query_param(query: str, name: str) -> Optional[str]:
    """The value of ``name`` in a raw query string (``a=1&b=x%20y``), percent-decoded (``+`` as a space), or None."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key, errors="replace") == name:
            return unquote_plus(value, errors="replace")
    return None


def _value(value: object) -> str:
    # Platforms spell booleans in lower case; Python's str() would say "True".
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query_string(params: Params) -> str:
    """``a=1&b=x%20y`` from a mapping or pairs, in their order; ``None`` values are left out."""
    pairs = params.items() if isinstance(params, Mapping) else params
    return "&".join(f"{urlencode(str(k))}={urlencode(_value(v))}" for k, v in pairs if v is not None)


def with_query(url: str, params: Params) -> str:
    """``url`` with ``params`` appended to its query string (after ``?`` or ``&`` as needed)."""
    query = query_string(params)
    if not query:
        return url
    if "?" not in url:
        return f"{url}?{query}"
    return url + query if url.endswith(("?", "&")) else f"{url}&{query}"

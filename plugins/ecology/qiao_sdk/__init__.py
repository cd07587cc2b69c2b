"""Qiao's Python connector SDK, for contract 0.2.0: the helpers every connector needs, with the same names and
behaviour as the Rust SDK's. Errors (``errors``: ``raise unsupported("...")``), JSON over the host's ``http`` import
(``json_http``), JSON in ``kv`` (``json_kv``), logging (``logging``), cached access tokens (``token``), the
DingTalk/WeCom callback crypto (``msg_crypt``), URL encoding (``text``), cursor pagination (``pagination``) and
configuration checks (``helpers``). ``qiao_sdk.testing`` runs all of it in CPython against a fake host.

The host is reached through ``wit_world.imports``, which componentize-py generates in the connector's project at
build time. The names below are loaded on first use, not when ``qiao_sdk`` is imported, so ``qiao_sdk.testing`` can
be imported (and install its fake host) before anything needs ``wit_world``."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

CONTRACT = "0.2.0"

if TYPE_CHECKING:  # what the names below are, for type checkers and editors
    from componentize_py_types import Err as Err
    from .errors import Error as Error
    from .errors import ErrorKind as ErrorKind
    from .errors import conflict as conflict
    from .errors import error as error
    from .errors import forbidden as forbidden
    from .errors import internal as internal
    from .errors import invalid_input as invalid_input
    from .errors import kind_of as kind_of
    from .errors import not_found as not_found
    from .errors import rate_limited as rate_limited
    from .errors import unauthorized as unauthorized
    from .errors import unavailable as unavailable
    from .errors import unsupported as unsupported
    from .helpers import json_object as json_object
    from .helpers import require_config as require_config
    from .helpers import required as required
    from .msg_crypt import MsgCrypt as MsgCrypt
    from .pagination import paginate as paginate
    from .text import hex as hex
    from .text import query_param as query_param
    from .text import query_string as query_string
    from .text import urlencode as urlencode
    from .text import with_query as with_query
    from .token import Token as Token

_EXPORTS = {
    "errors": ["Error", "ErrorKind", "conflict", "error", "forbidden", "internal", "invalid_input", "kind_of",
               "not_found", "rate_limited", "unauthorized", "unavailable", "unsupported"],
    "helpers": ["json_object", "require_config", "required"],
    "msg_crypt": ["MsgCrypt"],
    "pagination": ["paginate"],
    "text": ["hex", "query_param", "query_string", "urlencode", "with_query"],
    "token": ["Token"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["CONTRACT", "Err", *_WHERE]


def __getattr__(name: str) -> Any:
    if name == "Err":
        value = import_module("componentize_py_types").Err
    elif name in _WHERE:
        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value

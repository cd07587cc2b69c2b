"""Stand-ins for the modules componentize-py generates (``componentize_py_types``, ``wit_world.imports.*``), with the
same names and shapes for contract 0.2.0, so the SDK and a connector's own helpers run in CPython where no bindings
were generated. A connector's exports (``wit_world.exports``) are not stood in for: tests that import the app use the
real bindings (``make test`` generates them)."""

import sys
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import Any, Dict, Generic, List, Optional, Tuple, TypeVar, Union

S = TypeVar("S")
T = TypeVar("T")
E = TypeVar("E")


# componentize_py_types
@dataclass
class Some(Generic[S]):
    value: S


@dataclass
class Ok(Generic[T]):
    value: T


@dataclass(frozen=True)
class Err(Generic[E], Exception):
    value: E


Result = Union[Ok[T], Err[E]]


# wit_world.imports.types
class ErrorKind(Enum):
    UNAUTHORIZED = 0
    FORBIDDEN = 1
    NOT_FOUND = 2
    INVALID_INPUT = 3
    CONFLICT = 4
    RATE_LIMITED = 5
    UNAVAILABLE = 6
    UNSUPPORTED = 7
    INTERNAL = 8


@dataclass
class Error:
    kind: ErrorKind
    message: str
    platform_code: Optional[str]
    platform_message: Optional[str]
    retry_after_ms: Optional[int]


@dataclass
class Event:
    id: str
    kind: str
    time_ms: Optional[int]
    subject: str
    payload: str


# wit_world.imports.http
class Method(Enum):
    GET = 0
    POST = 1
    PUT = 2
    PATCH = 3
    DELETE = 4
    HEAD = 5


@dataclass
class Request:
    method: Method
    url: str
    headers: List[Tuple[str, str]]
    body: bytes
    timeout_ms: Optional[int]


@dataclass
class Response:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes


@dataclass
class HttpError_NotAllowed:  # noqa: N801 (the generated name)
    value: str


@dataclass
class HttpError_InvalidRequest:  # noqa: N801
    value: str


@dataclass
class HttpError_Timeout:  # noqa: N801
    pass


@dataclass
class HttpError_TooLarge:  # noqa: N801
    value: int


@dataclass
class HttpError_RequestLimit:  # noqa: N801
    value: int


@dataclass
class HttpError_Transport:  # noqa: N801
    value: str


HttpError = Union[HttpError_NotAllowed, HttpError_InvalidRequest, HttpError_Timeout, HttpError_TooLarge,
                  HttpError_RequestLimit, HttpError_Transport]


# wit_world.imports.log
class Level(Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


# wit_world.imports.crypto
class Padding(Enum):
    NONE = 0
    PKCS7 = 1


class RsaPadding(Enum):
    PKCS1V15 = 0
    OAEP_SHA256 = 1


def _unset(*_args: Any) -> Any:
    raise NotImplementedError("no fake host installed: call qiao_sdk.testing.install() first")


_MODULES: Dict[str, Dict[str, Any]] = {
    "componentize_py_types": dict(Some=Some, Ok=Ok, Err=Err, Result=Result),
    "wit_world": {},
    "wit_world.imports": {},
    "wit_world.imports.types": dict(ErrorKind=ErrorKind, Error=Error, Event=Event),
    "wit_world.imports.http": dict(
        Method=Method, Request=Request, Response=Response, HttpError=HttpError, HttpError_NotAllowed=HttpError_NotAllowed,
        HttpError_InvalidRequest=HttpError_InvalidRequest, HttpError_Timeout=HttpError_Timeout,
        HttpError_TooLarge=HttpError_TooLarge, HttpError_RequestLimit=HttpError_RequestLimit,
        HttpError_Transport=HttpError_Transport, send=_unset),
    "wit_world.imports.kv": dict(get=_unset, set=_unset, delete=_unset),
    "wit_world.imports.config": dict(get=_unset, connection=_unset),
    "wit_world.imports.log": dict(Level=Level, log=_unset),
    "wit_world.imports.crypto": dict(
        Padding=Padding, RsaPadding=RsaPadding, sha1=_unset, sha256=_unset, hmac_sha256=_unset,
        aes256_cbc_encrypt=_unset, aes256_cbc_decrypt=_unset, random_bytes=_unset, rsa_encrypt=_unset),
}


def install() -> None:
    """Puts the stand-ins into ``sys.modules`` (replacing none that are there)."""
    for name, attributes in _MODULES.items():
        if name in sys.modules:
            continue
        module = ModuleType(name, "Stand-in from qiao_sdk.testing for the module componentize-py generates.")
        module.__dict__.update(attributes)
        if name in ("wit_world", "wit_world.imports"):
            module.__path__ = []  # a package, so `from wit_world.imports import kv` finds the submodules
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)

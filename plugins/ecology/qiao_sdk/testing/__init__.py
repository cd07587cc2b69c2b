"""A fake host, so connector logic runs in CPython under ``python -m unittest``: configuration from a dict, an
in-memory kv with a fake clock for ttls, scripted HTTP answers, recorded log lines, and real hashes, HMAC and
AES-256-CBC (pure Python, see ``aes``). Nothing to install.

    from qiao_sdk import testing
    host = testing.install({"api_base": "https://api.example.test", "token": "t0"})
    host.respond(200, {"ok": True}, url="https://api.example.test/me")
    ...                                 # call the connector's code
    assert host.requests[0].headers == [...]

``install()`` patches the functions of the generated ``wit_world.imports`` modules when they can be imported (a
project's tests, after ``make test`` generated them: the app's exports then work too), or else puts stand-ins for
them into ``sys.modules`` (``standin``). Call it before importing modules that import the host's functions by name
(``from wit_world.imports.kv import get``); code that calls them through the module (``kv.get``), as the SDK does,
may be imported in any order. Each call returns a fresh host and makes it the current one."""

import hashlib
import hmac
import importlib
import json
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from . import aes, standin

_IMPORTS = ("types", "http", "kv", "config", "log", "crypto")
_HTTP_ERRORS = {
    "not-allowed": "HttpError_NotAllowed",
    "invalid-request": "HttpError_InvalidRequest",
    "timeout": "HttpError_Timeout",
    "too-large": "HttpError_TooLarge",
    "request-limit": "HttpError_RequestLimit",
    "transport": "HttpError_Transport",
}
#: The host's cap on one ``random-bytes`` call.
MAX_RANDOM_BYTES = 4096


@dataclass
class LogLine:
    #: "trace", "debug", "info", "warn" or "error".
    level: str
    message: str
    fields: Dict[str, str]


@dataclass
class _Scripted:
    answer: Any
    method: Optional[str]
    url: Optional[str]

    def check(self, request: Any) -> None:
        if self.method is not None and request.method.name != self.method.upper():
            raise AssertionError(f"expected a {self.method.upper()} request, got {request.method.name} {request.url}")
        if self.url is not None and not request.url.startswith(self.url):
            raise AssertionError(f"expected a request to {self.url}, got {request.method.name} {request.url}")


@dataclass
class FakeHost:
    #: What ``config.get`` answers (settings and secrets alike).
    config: Dict[str, str] = field(default_factory=dict)
    connection: str = "test"
    #: The kv store's live values; ``kv_ttl`` the ttl each key was last set with.
    kv: Dict[str, bytes] = field(default_factory=dict)
    kv_ttl: Dict[str, Optional[int]] = field(default_factory=dict)
    #: The fake clock kv ttls run on, in seconds: move it with ``advance``.
    now: float = 0.0
    #: Every request ``http.send`` got, in order.
    requests: List[Any] = field(default_factory=list)
    #: Scripted answers still to give, in order (``respond``, ``fail``).
    responses: List[_Scripted] = field(default_factory=list)
    #: Answers requests when nothing is scripted: ``handler(request)`` gives an ``http.Response`` or an HTTP error.
    handler: Optional[Callable[[Any], Any]] = None
    logs: List[LogLine] = field(default_factory=list)
    #: Set to make every ``kv.set`` fail with this error, as a full store would (``errors.invalid_input(...)``).
    kv_set_error: Optional[BaseException] = None
    #: Where ``crypto.random_bytes`` comes from: set it to make encryption repeatable.
    random: Callable[[int], bytes] = os.urandom
    #: ``crypto.rsa_encrypt(public_key, data, padding)``: not faked (no RSA in the standard library); script it.
    rsa_encrypt: Optional[Callable[[bytes, bytes, Any], bytes]] = None
    _expires: Dict[str, float] = field(default_factory=dict)
    _modules: Dict[str, ModuleType] = field(default_factory=dict)

    # Scripting

    def respond(self, status: int = 200, json: Any = None, *, body: Union[bytes, str, None] = None,
                headers: Optional[Mapping[str, str]] = None, method: Optional[str] = None,
                url: Optional[str] = None) -> None:
        """Queues the answer to the next request: ``json`` (any value but None) or ``body``. With ``method`` or ``url``
        (a prefix of the request's URL) the request is checked, and a different one fails the test."""
        pairs = [(k.lower(), v) for k, v in (headers or {}).items()]
        if json is not None:
            body = _dumps(json)
            if not any(k == "content-type" for k, _ in pairs):
                pairs.append(("content-type", "application/json"))
        data = body.encode() if isinstance(body, str) else (body or b"")
        response = self._modules["http"].Response(status=status, headers=pairs, body=data)
        self.responses.append(_Scripted(response, method, url))

    def fail(self, kind: str, detail: Any = None, *, method: Optional[str] = None, url: Optional[str] = None) -> None:
        """Queues a transport failure for the next request: ``kind`` is the contract's name (``timeout``,
        ``transport``, ``not-allowed``, ``invalid-request``, ``too-large``, ``request-limit``)."""
        cls = getattr(self._modules["http"], _HTTP_ERRORS[kind])
        error = cls() if kind == "timeout" else cls(detail if detail is not None else _DETAIL[kind])
        self.responses.append(_Scripted(error, method, url))

    def advance(self, seconds: float) -> None:
        """Moves the fake clock on, expiring kv values whose ttl has passed."""
        self.now += seconds

    def kv_json(self, key: str) -> Any:
        """A kv value as JSON, or None when missing."""
        data = self._kv_get(key)
        return None if data is None else json.loads(data)

    def request_json(self, index: int = -1) -> Any:
        """The body of a sent request (the last by default) as JSON."""
        return json.loads(self.requests[index].body)

    # The host's functions

    def _send(self, request: Any) -> Any:
        http = self._modules["http"]
        if not isinstance(request, http.Request):
            raise TypeError(f"http.send takes an http.Request, got {type(request).__name__}")
        if not isinstance(request.body, (bytes, bytearray)):
            raise TypeError("http.Request.body must be bytes")
        self.requests.append(request)
        if self.responses:
            scripted = self.responses.pop(0)
            scripted.check(request)
            answer = scripted.answer
        elif self.handler is not None:
            answer = self.handler(request)
        else:
            raise AssertionError(f"unexpected request {request.method.name} {request.url}: no answer scripted "
                                 "(FakeHost.respond, FakeHost.fail or FakeHost.handler)")
        if isinstance(answer, http.Response):
            return answer
        raise self._err(answer)

    def _kv_get(self, key: str) -> Optional[bytes]:
        if key in self._expires and self._expires[key] <= self.now:
            self._kv_delete(key)
        return self.kv.get(key)

    def _kv_set(self, key: str, value: bytes, ttl_seconds: Optional[int]) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"kv.set takes bytes, got {type(value).__name__}")
        if self.kv_set_error is not None:
            raise self.kv_set_error
        self.kv[key] = bytes(value)
        self.kv_ttl[key] = ttl_seconds
        self._expires.pop(key, None)
        if ttl_seconds is not None:
            self._expires[key] = self.now + ttl_seconds

    def _kv_delete(self, key: str) -> None:
        self.kv.pop(key, None)
        self.kv_ttl.pop(key, None)
        self._expires.pop(key, None)

    def _log(self, level: Any, message: str, fields: List[Any]) -> None:
        self.logs.append(LogLine(level.name.lower(), message, {k: v for k, v in fields}))

    def _aes(self, encrypt: bool, key: bytes, iv: bytes, data: bytes, padding: Any) -> bytes:
        # The host's checks and messages (crates/runtime/src/imports/crypto.rs).
        if len(key) != 32 or len(iv) != 16:
            raise self._err(f"AES-256-CBC needs a 32-byte key and a 16-byte IV, got {len(key)} and {len(iv)}")
        pkcs7 = padding.name == "PKCS7"
        if encrypt:
            if pkcs7:
                n = 16 - len(data) % 16
                data = bytes(data) + bytes([n]) * n
            elif len(data) % 16:
                raise self._err(f"{len(data)} bytes is not a multiple of 16")
            return aes.cbc_encrypt(bytes(key), bytes(iv), bytes(data))
        failed = self._err("decryption failed: wrong key, corrupt data or bad padding")
        if len(data) % 16 or (pkcs7 and not data):
            raise failed
        plain = aes.cbc_decrypt(bytes(key), bytes(iv), bytes(data))
        if pkcs7:
            n = plain[-1]
            if not 1 <= n <= 16 or plain[-n:] != bytes([n]) * n:
                raise failed
            plain = plain[:-n]
        return plain

    def _rsa(self, public_key: bytes, data: bytes, padding: Any) -> bytes:
        if self.rsa_encrypt is None:
            raise NotImplementedError("crypto.rsa_encrypt is not faked: set FakeHost.rsa_encrypt")
        return self.rsa_encrypt(public_key, data, padding)

    def _err(self, value: Any) -> BaseException:
        err: BaseException = importlib.import_module("componentize_py_types").Err(value)
        return err

    def _patch(self, modules: Dict[str, ModuleType]) -> None:
        self._modules = modules
        functions: Dict[str, Dict[str, Callable[..., Any]]] = {
            "http": dict(send=self._send),
            "kv": dict(get=self._kv_get, set=self._kv_set, delete=self._kv_delete),
            "config": dict(get=lambda key: self.config.get(key), connection=lambda: self.connection),
            "log": dict(log=self._log),
            "crypto": dict(
                sha1=lambda data: hashlib.sha1(data).digest(),
                sha256=lambda data: hashlib.sha256(data).digest(),
                hmac_sha256=lambda key, data: hmac.new(bytes(key), bytes(data), hashlib.sha256).digest(),
                aes256_cbc_encrypt=lambda key, iv, data, padding: self._aes(True, key, iv, data, padding),
                aes256_cbc_decrypt=lambda key, iv, data, padding: self._aes(False, key, iv, data, padding),
                random_bytes=lambda n: bytes(self.random(min(n, MAX_RANDOM_BYTES))),
                rsa_encrypt=self._rsa,
            ),
        }
        for name, attributes in functions.items():
            for attribute, function in attributes.items():
                setattr(modules[name], attribute, function)


_DETAIL = {
    "not-allowed": "example.invalid is not granted to this connection",
    "invalid-request": "bad URL",
    "too-large": 16 << 20,
    "request-limit": 100,
    "transport": "connection refused",
}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def install(config: Optional[Mapping[str, str]] = None, *, connection: str = "test") -> FakeHost:
    """A fresh fake host, now answering the ``wit_world.imports`` functions (see the module's doc)."""
    try:
        modules = {name: importlib.import_module(f"wit_world.imports.{name}") for name in _IMPORTS}
    except ImportError:
        standin.install()
        modules = {name: importlib.import_module(f"wit_world.imports.{name}") for name in _IMPORTS}
    host = FakeHost(config=dict(config or {}), connection=connection)
    host._patch(modules)
    return host

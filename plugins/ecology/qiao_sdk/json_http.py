"""JSON requests through the host's ``http`` import. Transport failures become the contract's errors
(``from_http_error`` does it for a raw ``http.send`` too), so a connector only decides what the platform's *answers*
mean."""

import json as _json
from typing import Any, Iterable, List, Mapping, Optional, Tuple, Union

from componentize_py_types import Err
from wit_world.imports import http, types

from . import errors
from .text import Params, query_string

#: Request headers as a mapping or as pairs.
Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]]]


class Response:
    def __init__(self, status: int, headers: List[Tuple[str, str]], body: bytes) -> None:
        self.status = status
        #: Names are lower case (the host's doing).
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response(status={self.status}, body={self.body[:80]!r})"

    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON, or an `internal` error quoting the start of what came instead."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            start = self.body[:200].decode("utf-8", errors="replace")
            raise errors.internal(f"expected JSON from the platform ({e}), got: {start}") from None

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _method(method: Union[str, http.Method]) -> http.Method:
    if isinstance(method, str):
        try:
            return http.Method[method.upper()]
        except KeyError:
            raise errors.invalid_input(f"unknown HTTP method {method!r}") from None
    return method


def send(method: Union[str, http.Method], url: str, *, headers: Headers = (), json: Any = None,
         form: Optional[Params] = None, timeout_ms: Optional[int] = None) -> Response:
    """Sends a request: ``method`` is ``"GET"``... or ``http.Method``. A ``json`` body (any value but None) sets
    ``content-type: application/json``; a ``form`` (mapping or pairs) is sent url-encoded instead."""
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    has_type = any(k.lower() == "content-type" for k, _ in pairs)
    body = b""
    if json is not None:
        try:
            body = _json.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as e:
            raise errors.internal(f"cannot send as JSON: {e}") from None
        content_type = "application/json; charset=utf-8"
    elif form is not None:
        body = query_string(form).encode()
        content_type = "application/x-www-form-urlencoded"
    if body and not has_type:
        pairs.append(("content-type", content_type))
    request = http.Request(method=_method(method), url=url, headers=pairs, body=body, timeout_ms=timeout_ms)
    try:
        response = http.send(request)
    except Err as e:
        raise from_http_error(e.value) from None
    return Response(response.status, list(response.headers), bytes(response.body))


def get(url: str, *, headers: Headers = (), timeout_ms: Optional[int] = None) -> Response:
    return send(http.Method.GET, url, headers=headers, timeout_ms=timeout_ms)


def post(url: str, json: Any = None, *, headers: Headers = (), form: Optional[Params] = None,
         timeout_ms: Optional[int] = None) -> Response:
    return send(http.Method.POST, url, headers=headers, json=json, form=form, timeout_ms=timeout_ms)


def from_http_error(e: "http.HttpError") -> "Err[types.Error]":
    """What each transport failure means to a caller: a refused host is a configuration problem (`forbidden`); the
    rest may pass (`unavailable`), except a malformed request and an oversized answer, which retrying won't fix."""
    if isinstance(e, http.HttpError_NotAllowed):
        return errors.forbidden(e.value)
    if isinstance(e, http.HttpError_InvalidRequest):
        return errors.invalid_input(f"invalid outbound request: {e.value}")
    if isinstance(e, http.HttpError_Timeout):
        return errors.unavailable("the platform did not answer in time")
    if isinstance(e, http.HttpError_TooLarge):
        return errors.internal(f"the platform's response exceeds the host's limit of {e.value} bytes")
    if isinstance(e, http.HttpError_RequestLimit):
        return errors.unavailable(f"this call used up its allowance of {e.value} outbound requests")
    return errors.unavailable(f"cannot reach the platform: {e.value}")  # transport

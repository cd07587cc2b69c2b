"""Constructors for the contract's error record, so a connector says what went wrong in one line:
``raise unsupported("...")``. Each returns the ``Err`` the generated bindings expect an export to raise. The kind is
what the host acts on (HTTP status for API callers, retry or not in the outbox); the message is for people and never
contains secrets. Every constructor takes the platform's own code and message (``platform_code=``,
``platform_message=``, passed on to API callers) and ``retry_after_ms=``."""

from typing import Optional

from componentize_py_types import Err
from wit_world.imports import types

Error = types.Error
ErrorKind = types.ErrorKind


def error(kind: types.ErrorKind, message: str, *, platform_code: Optional[object] = None,
          platform_message: Optional[str] = None, retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    """An error of any kind. ``platform_code`` may be a number (DingTalk's ``errcode``): it is sent as text."""
    code = None if platform_code is None else str(platform_code)
    return Err(types.Error(kind=kind, message=message, platform_code=code, platform_message=platform_message,
                           retry_after_ms=retry_after_ms))


def unauthorized(message: str, *, platform_code: Optional[object] = None, platform_message: Optional[str] = None,
                 retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    """Credentials or token rejected, after the connector's own token refetch."""
    return error(types.ErrorKind.UNAUTHORIZED, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def forbidden(message: str, *, platform_code: Optional[object] = None, platform_message: Optional[str] = None,
              retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    """The app lacks a permission or scope."""
    return error(types.ErrorKind.FORBIDDEN, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def not_found(message: str, *, platform_code: Optional[object] = None, platform_message: Optional[str] = None,
              retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    return error(types.ErrorKind.NOT_FOUND, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def invalid_input(message: str, *, platform_code: Optional[object] = None, platform_message: Optional[str] = None,
                  retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    """The request can never succeed as sent: the message should name the offending field."""
    return error(types.ErrorKind.INVALID_INPUT, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def conflict(message: str, *, platform_code: Optional[object] = None, platform_message: Optional[str] = None,
             retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    """Clashes with the platform's current state (duplicate, wrong status)."""
    return error(types.ErrorKind.CONFLICT, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def rate_limited(message: str, retry_after_ms: Optional[int] = None, *, platform_code: Optional[object] = None,
                 platform_message: Optional[str] = None) -> "Err[types.Error]":
    """Throttled: the host's outbox waits ``retry_after_ms`` before trying again."""
    return error(types.ErrorKind.RATE_LIMITED, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def unavailable(message: str, *, platform_code: Optional[object] = None, platform_message: Optional[str] = None,
                retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    """Down, busy or timed out: retrying later may succeed."""
    return error(types.ErrorKind.UNAVAILABLE, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def unsupported(message: str, *, platform_code: Optional[object] = None, platform_message: Optional[str] = None,
                retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    """The platform (or this connector) cannot do this at all."""
    return error(types.ErrorKind.UNSUPPORTED, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def internal(message: str, *, platform_code: Optional[object] = None, platform_message: Optional[str] = None,
             retry_after_ms: Optional[int] = None) -> "Err[types.Error]":
    """A bug, or an answer the connector did not expect."""
    return error(types.ErrorKind.INTERNAL, message, platform_code=platform_code, platform_message=platform_message,
                 retry_after_ms=retry_after_ms)


def kind_of(exception: BaseException) -> Optional[types.ErrorKind]:
    """The contract error kind an exception carries, or None for anything else (the ``Err`` of a raw ``http.send``,
    a plain Python exception)."""
    if isinstance(exception, Err) and isinstance(exception.value, types.Error):
        return exception.value.kind
    return None

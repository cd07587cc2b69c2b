"""Calls to the platform's API: the one place that knows its base URL, its authentication and what its errors mean.
Written for a JSON API with a bearer token (the `api_base` and `token` settings of app.py); adapt it to the
platform's documentation."""

from typing import Any

from componentize_py_types import Err
from qiao_sdk import errors, json_http
from qiao_sdk.helpers import require_config
from qiao_sdk.text import Params, with_query
from wit_world.imports import types


def call(method: str, path: str, *, params: Params = (), json: Any = None) -> Any:
    """``method`` ``{api_base}{path}?{params}`` with the configured token; the platform's answer as JSON (None when
    it has no body), or the contract error its failure means."""
    base = require_config("api_base").rstrip("/")
    token = require_config("token")
    response = json_http.send(method, with_query(base + path, params), headers={"authorization": f"Bearer {token}"},
                              json=json)
    if response.is_success():
        return response.json() if response.body else None
    raise error_for(response)


def error_for(response: json_http.Response) -> "Err[types.Error]":
    """The contract error an HTTP failure means. Most platforms also put a code in the body: keep it as the
    platform code, it reaches API callers."""
    status = response.status
    detail = response.text()[:200]
    if status == 401:
        return errors.unauthorized("the platform rejected the token", platform_code=status, platform_message=detail)
    if status == 403:
        return errors.forbidden("the token lacks a permission", platform_code=status, platform_message=detail)
    if status == 404:
        return errors.not_found("no such object on the platform", platform_code=status, platform_message=detail)
    if status == 409:
        return errors.conflict("the platform refused a conflicting change", platform_code=status,
                               platform_message=detail)
    if status == 429:
        retry_after = response.header("retry-after")
        retry_after_ms = int(retry_after) * 1000 if retry_after and retry_after.isdigit() else None
        return errors.rate_limited("the platform is throttling this connection", retry_after_ms,
                                   platform_code=status, platform_message=detail)
    if 400 <= status < 500:
        return errors.invalid_input("the platform refused the request", platform_code=status, platform_message=detail)
    return errors.unavailable(f"the platform answered {status}", platform_code=status, platform_message=detail)

"""Checks every connector makes on its configuration and inputs, answering `invalid-input` naming what is wrong."""

import json
from typing import Any, Dict, Optional

from wit_world.imports import config

from .errors import invalid_input


def require_config(key: str) -> str:
    """A required setting or secret, or an `invalid-input` error naming it (an empty value counts as unset)."""
    value = config.get(key)
    if not value:
        raise invalid_input(f"{key} is not configured")
    return value


def required(value: Optional[str], field: str) -> str:
    """``value`` itself, or an `invalid-input` error naming ``field`` when it is missing or blank."""
    if value is None or not value.strip():
        raise invalid_input(f"{field} is required")
    return value


def json_object(text: Optional[str], what: str) -> Dict[str, Any]:
    """A JSON object the caller passed as text (a record's ``extra``, a request's ``options``), or an empty one when
    none was given; anything else is `invalid-input` naming ``what``."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise invalid_input(f"{what} must be a JSON object")
    return value

"""The connection's settings and secrets, read where they are needed, each checked once here so a bad value is an
`invalid-input` naming its key rather than a stack trace."""

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

from qiao_sdk.errors import invalid_input
from qiao_sdk.helpers import require_config
from wit_world.imports import config

#: e-cology's own default token lifetime (seconds); the token endpoint takes up to what the OA admin allows.
DEFAULT_TOKEN_TTL = 1800


def base_url() -> str:
    """The OA's root URL, e.g. https://oa.example.com (no trailing slash)."""
    url = require_config("base_url").strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise invalid_input("base_url must be an http(s) URL such as https://oa.example.com")
    return url


def appid() -> str:
    return require_config("appid").strip()


def cpk() -> Optional[str]:
    """The client public key `regist` asks for (ECOLOGY.md: listed as required by old docs, unused by the server)."""
    return optional("cpk")


def acting_user(override: Optional[str] = None) -> str:
    """The OA user id (HrmResource.id) calls act as: the caller's when the contract lets it name one, else the
    integration account of the `user_id` setting."""
    user = (override or "").strip() or (config.get("user_id") or "").strip()
    if not user:
        raise invalid_input("user_id is not configured: set the OA user id (HrmResource.id) of the integration "
                            "account the connector acts as")
    if not digits(user) or len(user) > 18:
        raise invalid_input(f"OA user ids are numbers (HrmResource.id), got {user[:40]!r}")
    return user


def token_ttl() -> int:
    raw = optional("session_lifetime_s")
    if raw is None:
        return DEFAULT_TOKEN_TTL
    if not digits(raw) or not 60 <= int(raw) <= 86400:
        raise invalid_input("session_lifetime_s must be a number of seconds from 60 to 86400")
    return int(raw)


def directory_writes() -> bool:
    return (optional("directory_writes") or "").lower() in ("true", "1", "yes")


def hook_secret() -> Optional[str]:
    return optional("hook_secret")


def syscode() -> str:
    code = optional("ofs_syscode")
    if code is None:
        raise invalid_input("ofs_syscode is not configured: the code this system is registered under in the OA's "
                            "unified to-do centre (统一待办中心 → 异构系统)")
    return code


def sso_appid() -> str:
    """The appid of WeaverLoginClient.properties, which may differ from the REST API's."""
    return optional("sso_appid") or appid()


def digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" and "١", which no OA id is."""
    return text.isascii() and text.isdigit()


def optional(key: str) -> Optional[str]:
    value = (config.get(key) or "").strip()
    return value or None


def oa_timezone() -> timezone:
    """The OA server's zone: e-cology writes and filters local times without a zone (China: +08:00)."""
    raw = optional("utc_offset") or "+08:00"
    sign = -1 if raw.startswith("-") else 1
    hours, _, minutes = raw.lstrip("+-").partition(":")
    if not digits(hours) or (minutes and not digits(minutes)) or int(hours) > 14:
        raise invalid_input("utc_offset must look like +08:00")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))


def format_time(ms: int) -> str:
    """Milliseconds since the epoch as e-cology's `yyyy-MM-dd HH:mm:ss` in the OA's zone."""
    return datetime.fromtimestamp(ms / 1000, oa_timezone()).strftime("%Y-%m-%d %H:%M:%S")


#: `yyyy-MM-dd[ HH:mm[:ss]]`. Parsed by hand: datetime.strptime imports `_strptime` lazily, which componentize-py
#: does not bundle (the call then fails inside the component only).
_TIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?")


def parse_time(text: object) -> Optional[int]:
    """An e-cology local time (`yyyy-MM-dd HH:mm:ss`, or a date, or date + time fields joined) as ms, or None."""
    if not isinstance(text, str):
        return None
    match = _TIME.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(p) if p else 0 for p in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=oa_timezone())
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)

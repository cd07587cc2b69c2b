"""The ecology connector for Qiao: `describe` here, each capability in capabilities/, calls to the platform in api.py.
`make` builds it into ecology.wasm; `wit_world` is the bindings componentize-py generates from wit/ at build time."""

from wit_world import exports
from wit_world.exports import describe

# componentize-py finds the class implementing each exported interface by its name in this module (`Messaging`,
# `UserStatus`...), so every capability's class is imported here.
from capabilities.identity import Identity  # noqa: F401
from capabilities.approval import Approval  # noqa: F401
from capabilities.tasks import Tasks  # noqa: F401
from capabilities.webhook import Webhook  # noqa: F401
from capabilities.poll import Poll  # noqa: F401


def _field(key: str, description: str, *, required: bool = False, secret: bool = False,
           api_base: bool = False) -> describe.ConfigField:
    return describe.ConfigField(key=key, description=description, required=required, secret=secret,
                                api_base=api_base)


class Describe(exports.Describe):
    def describe(self) -> describe.Info:
        return describe.Info(
            id="ecology",
            name="Weaver e-cology",
            version="0.1.0",
            vendor="Acme Labs",
            platform="ecology",
            # Every e-cology is the customer's own server: it is reached as base_url's origin, which the host grants.
            hosts=[],
            config=[
                _field("base_url", "The OA's root URL, e.g. https://oa.example.com", required=True, api_base=True),
                _field("appid", "The REST app licence (a row of ECOLOGY_BIZ_EC), for regist/applytoken",
                       required=True),
                _field("user_id", "The integration account's OA user id (HrmResource.id): who calls act as unless "
                       "the caller names someone", required=True),
                _field("cpk", "The client public key sent to regist (old e-cology versions require one; the "
                       "server does not use it)", secret=True),
                _field("hook_secret", "The shared secret the OA-side class signs its events with "
                       "(X-Qiao-Signature: sha256=HMAC-SHA256)", secret=True),
                _field("session_lifetime_s", "Token lifetime asked of applytoken, in seconds (default 1800)"),
                _field("directory_writes", "true to let Qiao write the OA's directory through the HR syn* "
                       "endpoints; read-only otherwise"),
                _field("ofs_syscode", "The code this system is registered under in the unified to-do centre "
                       "(needed by tasks)"),
                _field("ofs_user_rule", "How the to-do centre maps receivers to people: loginid (default), "
                       "workcode or id, as its 人员转换规则 is set"),
                _field("ofs_default_link", "The link a to-do opens when a task gives none (the OA hides to-dos without "
                       "one)"),
                _field("ofs_workflow_name", "The workflow name to-dos are shown under (default Qiao)"),
                _field("sso_appid", "The appid of WeaverLoginClient.properties for ssologin/getToken (default: "
                       "appid)"),
                _field("utc_offset", "The OA server's time zone, e.g. +08:00 (the default)"),
            ],
            # ECOLOGY.md documents no request rates.
            rate_hints=[],
        )

"""The __NAME__ connector for Qiao: `describe` here, each capability in capabilities/, calls to the platform in api.py.
`make` builds it into __NAME__.wasm; `wit_world` is the bindings componentize-py generates from wit/ at build time."""

from wit_world import exports
from wit_world.exports import describe

# componentize-py finds the class implementing each exported interface by its name in this module (`Messaging`,
# `UserStatus`...), so every capability's class is imported here.
from capabilities.__CAP_SNAKE__ import __CAP_PASCAL__  # noqa: F401__EACH_CAPABILITY__


class Describe(exports.Describe):
    def describe(self) -> describe.Info:
        return describe.Info(
            id="__NAME__",
            name="__NAME_PASCAL__",
            version="0.1.0",
            vendor="__NAME_PASCAL__ authors",
            platform="__NAME__",
            # The platform's host names, reached over https (e.g. "api.example.com"): no scheme, port or wildcard.
            # Left empty, the connector reaches only the origin of `api_base`, which the host grants.
            hosts=[],
            config=[
                describe.ConfigField(key="api_base", description="Base URL of the platform's API, e.g. "
                                     "https://api.example.com", required=True, secret=False, api_base=True),
                describe.ConfigField(key="token", description="API token, sent as a bearer token", required=True,
                                     secret=True, api_base=False),
            ],
            # The platform's documented request rates, so the host paces writes (see the contract's rate-hint).
            rate_hints=[],
        )

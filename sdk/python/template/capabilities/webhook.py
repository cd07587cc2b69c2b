"""The webhook capability: inbound HTTP from the platform (event callbacks), received by the host at
`/v1/hooks/{connection}`.

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface webhook); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/webhook.py)."""

from qiao_sdk.errors import unsupported
from wit_world import exports
from wit_world.exports import webhook


class Webhook(exports.Webhook):
    def handle(self, request: webhook.Request) -> webhook.Outcome:
        raise unsupported("__NAME__: webhook.handle is not written yet (capabilities/webhook.py)")

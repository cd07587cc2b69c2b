"""The messaging capability: messages to people: work notifications, cards, urgent reminders.

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface messaging); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/messaging.py)."""

from qiao_sdk.errors import unsupported
from wit_world import exports
from wit_world.exports import messaging


class Messaging(exports.Messaging):
    def send(self, message: messaging.Message) -> messaging.SendResult:
        raise unsupported("__NAME__: messaging.send is not written yet (capabilities/messaging.py)")

    def recall(self, message_id: str) -> None:
        raise unsupported("__NAME__: messaging.recall is not written yet (capabilities/messaging.py)")

    def read_status(self, message_id: str) -> messaging.ReadReceipts:
        raise unsupported("__NAME__: messaging.read-status is not written yet (capabilities/messaging.py)")

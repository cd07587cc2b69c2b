"""The chats capability: group chats: DingTalk scene groups, WeCom app chats, Feishu chats. Sending to a chat stays in
`messaging` (`recipients.chats`).

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface chats); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/chats.py)."""

from typing import List, Optional

from qiao_sdk.errors import unsupported
from wit_world import exports
from wit_world.exports import chats


class Chats(exports.Chats):
    def create(self, chat: chats.NewChat, idempotency_key: Optional[str]) -> chats.Chat:
        raise unsupported("__NAME__: chats.create is not written yet (capabilities/chats.py)")

    def get(self, id: str) -> chats.Chat:
        raise unsupported("__NAME__: chats.get is not written yet (capabilities/chats.py)")

    def add_members(self, chat_id: str, user_ids: List[str]) -> None:
        """Members already in the chat are no error."""
        raise unsupported("__NAME__: chats.add-members is not written yet (capabilities/chats.py)")

    def remove_members(self, chat_id: str, user_ids: List[str]) -> None:
        """Users not in the chat are no error."""
        raise unsupported("__NAME__: chats.remove-members is not written yet (capabilities/chats.py)")

"""The poll capability: for platforms that cannot call back: events since a cursor.

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface poll); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/poll.py)."""

from typing import Optional

from qiao_sdk.errors import unsupported
from wit_world import exports
from wit_world.exports import poll


class Poll(exports.Poll):
    def poll(self, cursor: Optional[str]) -> poll.Batch:
        raise unsupported("__NAME__: poll.poll is not written yet (capabilities/poll.py)")

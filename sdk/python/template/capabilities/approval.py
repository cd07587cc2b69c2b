"""The approval capability: approval workflows (and, for ERP, bills that go through approval).

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface approval); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/approval.py)."""

from typing import Optional

from qiao_sdk.errors import unsupported
from wit_world import exports
from wit_world.exports import approval


class Approval(exports.Approval):
    def create(self, request: approval.CreateRequest) -> approval.Created:
        raise unsupported("__NAME__: approval.create is not written yet (capabilities/approval.py)")

    def get(self, id: str, template: Optional[str]) -> approval.Instance:
        raise unsupported("__NAME__: approval.get is not written yet (capabilities/approval.py)")

    def act(self, request: approval.ActRequest) -> None:
        raise unsupported("__NAME__: approval.act is not written yet (capabilities/approval.py)")

    def cancel(self, request: approval.CancelRequest) -> None:
        raise unsupported("__NAME__: approval.cancel is not written yet (capabilities/approval.py)")

    def remind(self, request: approval.RemindRequest) -> None:
        """Reminds the approvers of pending tasks (Feishu `approval/v4/instances/remind`); platforms without it answer
        `unsupported` with the reason."""
        raise unsupported("__NAME__: approval.remind is not written yet (capabilities/approval.py)")

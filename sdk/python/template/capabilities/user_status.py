"""The user-status capability: turning an account off and on without deleting it (WeCom `enable`, Feishu `is_frozen`).
Optional: for a connector without it, directory sync deactivates a leaver by deleting the platform user.

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface user-status); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/user_status.py)."""

from qiao_sdk.errors import unsupported
from wit_world import exports


class UserStatus(exports.UserStatus):
    def set_active(self, user_id: str, active: bool) -> None:
        raise unsupported("__NAME__: user-status.set-active is not written yet (capabilities/user_status.py)")

"""The roles capability: the platform's roles, tags or user groups (DingTalk roles, WeCom tags, Feishu user groups),
which the enterprise's roles map to. Optional, and added after `identity`: a connector without it still loads, and
its connections simply take no part in role mapping.

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface roles); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/roles.py)."""

from typing import List

from qiao_sdk.errors import unsupported
from wit_world import exports
from wit_world.exports import roles


class Roles(exports.Roles):
    def list_roles(self) -> List[roles.Role]:
        raise unsupported("__NAME__: roles.list-roles is not written yet (capabilities/roles.py)")

    def create_role(self, name: str) -> roles.Role:
        """Creates a role (tag, group) with this name."""
        raise unsupported("__NAME__: roles.create-role is not written yet (capabilities/roles.py)")

    def list_members(self, role_id: str) -> List[str]:
        """The platform user ids holding the role."""
        raise unsupported("__NAME__: roles.list-members is not written yet (capabilities/roles.py)")

    def add_members(self, role_id: str, user_ids: List[str]) -> None:
        """Gives the role to these users; users holding it already are no error. The connector splits long lists into
        the batches its platform accepts."""
        raise unsupported("__NAME__: roles.add-members is not written yet (capabilities/roles.py)")

    def remove_members(self, role_id: str, user_ids: List[str]) -> None:
        """Takes the role from these users; users not holding it are no error."""
        raise unsupported("__NAME__: roles.remove-members is not written yet (capabilities/roles.py)")

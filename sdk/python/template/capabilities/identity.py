"""The identity capability: the organisation directory, and single sign-on.

Every function answers `unsupported` until it is written. What each must do is in the contract,
wit/deps/connector/connector.wit (interface identity); the types are in the bindings `make test` generates
(build/bindings/wit_world/exports/identity.py)."""

from typing import List, Optional

from qiao_sdk.errors import unsupported
from wit_world import exports
from wit_world.exports import identity


class Identity(exports.Identity):
    def list_departments(self, parent_id: Optional[str], recursive: bool) -> List[identity.Department]:
        """Departments under `parent-id` (the root when none): direct children, or the whole subtree."""
        raise unsupported("__NAME__: identity.list-departments is not written yet (capabilities/identity.py)")

    def get_department(self, id: str) -> identity.Department:
        raise unsupported("__NAME__: identity.get-department is not written yet (capabilities/identity.py)")

    def create_department(
        self, fields: identity.DepartmentFields, idempotency_key: Optional[str],
    ) -> identity.Department:
        raise unsupported("__NAME__: identity.create-department is not written yet (capabilities/identity.py)")

    def update_department(self, id: str, fields: identity.DepartmentFields) -> None:
        raise unsupported("__NAME__: identity.update-department is not written yet (capabilities/identity.py)")

    def delete_department(self, id: str) -> None:
        raise unsupported("__NAME__: identity.delete-department is not written yet (capabilities/identity.py)")

    def list_users(self, department_id: str, cursor: Optional[str], limit: int) -> identity.UserPage:
        raise unsupported("__NAME__: identity.list-users is not written yet (capabilities/identity.py)")

    def get_user(self, id: str) -> identity.User:
        raise unsupported("__NAME__: identity.get-user is not written yet (capabilities/identity.py)")

    def find_user(self, key: identity.UserKey) -> str:
        """A user id from another key (mobile, email...)."""
        raise unsupported("__NAME__: identity.find-user is not written yet (capabilities/identity.py)")

    def create_user(self, fields: identity.UserFields, idempotency_key: Optional[str]) -> identity.User:
        raise unsupported("__NAME__: identity.create-user is not written yet (capabilities/identity.py)")

    def update_user(self, id: str, fields: identity.UserFields) -> None:
        raise unsupported("__NAME__: identity.update-user is not written yet (capabilities/identity.py)")

    def delete_user(self, id: str) -> None:
        raise unsupported("__NAME__: identity.delete-user is not written yet (capabilities/identity.py)")

    def sso_authorize_url(self, redirect_uri: str, state: str, flow: Optional[str]) -> str:
        """The URL to send a browser to for sign-in."""
        raise unsupported("__NAME__: identity.sso-authorize-url is not written yet (capabilities/identity.py)")

    def sso_resolve(self, request: identity.SsoRequest) -> identity.SsoUser:
        """Exchange a sign-in code for the user it belongs to."""
        raise unsupported("__NAME__: identity.sso-resolve is not written yet (capabilities/identity.py)")

    def login_url(self, user_id: str, target: Optional[str]) -> str:
        """A URL that signs this user straight in to the connected system, for systems that trust Qiao as an identity
        broker (Weaver e-cology `ssologin/getToken`), optionally landing on `target` (a path or URL of that system). The
        URL is a bearer credential: short-lived, never logged. The chat platforms answer `unsupported`."""
        raise unsupported("__NAME__: identity.login-url is not written yet (capabilities/identity.py)")

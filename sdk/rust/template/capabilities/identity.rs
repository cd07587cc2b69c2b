//! identity: the platform's directory (departments, users), single sign-on, and login URLs.

use qiao_sdk::Error;

use crate::exports::qiao::connector::identity::{
    Department, DepartmentFields, Guest, SsoRequest, SsoUser, User, UserFields, UserKey, UserPage,
};
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn list_departments(_parent_id: Option<String>, _recursive: bool) -> Result<Vec<Department>, Error> {
        Err(not_yet("identity.list-departments"))
    }

    fn get_department(_id: String) -> Result<Department, Error> {
        Err(not_yet("identity.get-department"))
    }

    fn create_department(
        _fields: DepartmentFields,
        _idempotency_key: Option<String>,
    ) -> Result<Department, Error> {
        Err(not_yet("identity.create-department"))
    }

    fn update_department(_id: String, _fields: DepartmentFields) -> Result<(), Error> {
        Err(not_yet("identity.update-department"))
    }

    fn delete_department(_id: String) -> Result<(), Error> {
        Err(not_yet("identity.delete-department"))
    }

    fn list_users(_department_id: String, _cursor: Option<String>, _limit: u32) -> Result<UserPage, Error> {
        Err(not_yet("identity.list-users"))
    }

    fn get_user(_id: String) -> Result<User, Error> {
        Err(not_yet("identity.get-user"))
    }

    fn find_user(_key: UserKey) -> Result<String, Error> {
        Err(not_yet("identity.find-user"))
    }

    fn create_user(_fields: UserFields, _idempotency_key: Option<String>) -> Result<User, Error> {
        Err(not_yet("identity.create-user"))
    }

    fn update_user(_id: String, _fields: UserFields) -> Result<(), Error> {
        Err(not_yet("identity.update-user"))
    }

    fn delete_user(_id: String) -> Result<(), Error> {
        Err(not_yet("identity.delete-user"))
    }

    fn sso_authorize_url(_redirect_uri: String, _state: String, _flow: Option<String>) -> Result<String, Error> {
        Err(not_yet("identity.sso-authorize-url"))
    }

    fn sso_resolve(_request: SsoRequest) -> Result<SsoUser, Error> {
        Err(not_yet("identity.sso-resolve"))
    }

    fn login_url(_user_id: String, _target: Option<String>) -> Result<String, Error> {
        Err(not_yet("identity.login-url"))
    }
}

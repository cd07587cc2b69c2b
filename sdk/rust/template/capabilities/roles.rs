//! roles: the platform's roles (or tags, or groups) and who holds them.

use qiao_sdk::Error;

use crate::exports::qiao::connector::roles::{Guest, Role};
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn list_roles() -> Result<Vec<Role>, Error> {
        Err(not_yet("roles.list-roles"))
    }

    fn create_role(_name: String) -> Result<Role, Error> {
        Err(not_yet("roles.create-role"))
    }

    fn list_members(_role_id: String) -> Result<Vec<String>, Error> {
        Err(not_yet("roles.list-members"))
    }

    fn add_members(_role_id: String, _user_ids: Vec<String>) -> Result<(), Error> {
        Err(not_yet("roles.add-members"))
    }

    fn remove_members(_role_id: String, _user_ids: Vec<String>) -> Result<(), Error> {
        Err(not_yet("roles.remove-members"))
    }
}

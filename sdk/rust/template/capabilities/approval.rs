//! approval: start an approval, read it, act on its tasks, cancel it, remind its approvers.

use qiao_sdk::Error;

use crate::exports::qiao::connector::approval::{
    ActRequest, CancelRequest, CreateRequest, Created, Guest, Instance, RemindRequest,
};
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn create(_request: CreateRequest) -> Result<Created, Error> {
        Err(not_yet("approval.create"))
    }

    fn get(_id: String, _template: Option<String>) -> Result<Instance, Error> {
        Err(not_yet("approval.get"))
    }

    fn act(_request: ActRequest) -> Result<(), Error> {
        Err(not_yet("approval.act"))
    }

    fn cancel(_request: CancelRequest) -> Result<(), Error> {
        Err(not_yet("approval.cancel"))
    }

    fn remind(_request: RemindRequest) -> Result<(), Error> {
        Err(not_yet("approval.remind"))
    }
}

//! messaging: send a message to users, departments, tags or chats; recall it; read who has read it.

use qiao_sdk::Error;

use crate::exports::qiao::connector::messaging::{Guest, Message, ReadReceipts, SendResult};
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn send(_message: Message) -> Result<SendResult, Error> {
        Err(not_yet("messaging.send"))
    }

    fn recall(_message_id: String) -> Result<(), Error> {
        Err(not_yet("messaging.recall"))
    }

    fn read_status(_message_id: String) -> Result<ReadReceipts, Error> {
        Err(not_yet("messaging.read-status"))
    }
}

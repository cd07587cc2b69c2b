//! chats: create group chats and manage their members (sending to a chat is messaging's).

use qiao_sdk::Error;

use crate::exports::qiao::connector::chats::{Chat, Guest, NewChat};
use crate::{Connector, not_yet};

impl Guest for Connector {
    fn create(_chat: NewChat, _idempotency_key: Option<String>) -> Result<Chat, Error> {
        Err(not_yet("chats.create"))
    }

    fn get(_id: String) -> Result<Chat, Error> {
        Err(not_yet("chats.get"))
    }

    fn add_members(_chat_id: String, _user_ids: Vec<String>) -> Result<(), Error> {
        Err(not_yet("chats.add-members"))
    }

    fn remove_members(_chat_id: String, _user_ids: Vec<String>) -> Result<(), Error> {
        Err(not_yet("chats.remove-members"))
    }
}

//! Calls on a connector built for contract 0.2.0, the latest: each [`Call`] is the guest call as it is.

use wasmtime::Store;
use wasmtime::component::Instance;

use qiao_contract::{Call, Reply, describe, types};

use super::Outcome;
use crate::exports::v0_2_0::Indices;
use crate::sandbox::HostState;

pub async fn describe(
    exports: &Indices,
    store: &mut Store<HostState>,
    instance: &Instance,
) -> wasmtime::Result<Option<describe::Info>> {
    match &exports.describe {
        Some(describe) => Ok(Some(describe.load(&mut *store, instance)?.call_describe(&mut *store).await?)),
        None => Ok(None),
    }
}

/// Calls the guest. The caller has checked that the component exports `call.capability()`.
pub async fn dispatch(
    exports: &Indices,
    store: &mut Store<HostState>,
    instance: &Instance,
    call: Call,
) -> Outcome {
    use Call::*;
    fn done<T>(
        r: Result<T, types::Error>,
        f: impl FnOnce(T) -> Reply,
    ) -> Result<Reply, types::Error> {
        r.map(f)
    }
    macro_rules! guest {
        ($field:ident) => {
            exports
                .$field
                .as_ref()
                .expect("capability checked before dispatch")
                .load(&mut *store, instance)?
        };
    }
    Ok(match call {
        ListDepartments { parent, recursive } => done(
            guest!(identity)
                .call_list_departments(&mut *store, parent.as_deref(), recursive)
                .await?,
            Reply::Departments,
        ),
        GetDepartment { id } => done(
            guest!(identity)
                .call_get_department(&mut *store, &id)
                .await?,
            Reply::Department,
        ),
        CreateDepartment { fields, idempotency_key: key } => done(
            guest!(identity)
                .call_create_department(&mut *store, &fields, key.as_deref())
                .await?,
            Reply::Department,
        ),
        UpdateDepartment { id, fields } => done(
            guest!(identity)
                .call_update_department(&mut *store, &id, &fields)
                .await?,
            |()| Reply::Done,
        ),
        DeleteDepartment { id } => done(
            guest!(identity)
                .call_delete_department(&mut *store, &id)
                .await?,
            |()| Reply::Done,
        ),
        ListUsers {
            department,
            cursor,
            limit,
        } => done(
            guest!(identity)
                .call_list_users(&mut *store, &department, cursor.as_deref(), limit)
                .await?,
            Reply::UserPage,
        ),
        GetUser { id } => done(
            guest!(identity).call_get_user(&mut *store, &id).await?,
            Reply::User,
        ),
        FindUser { key } => done(
            guest!(identity).call_find_user(&mut *store, &key).await?,
            Reply::UserId,
        ),
        CreateUser { fields, idempotency_key: key } => done(
            guest!(identity)
                .call_create_user(&mut *store, &fields, key.as_deref())
                .await?,
            Reply::User,
        ),
        UpdateUser { id, fields } => done(
            guest!(identity)
                .call_update_user(&mut *store, &id, &fields)
                .await?,
            |()| Reply::Done,
        ),
        DeleteUser { id } => done(
            guest!(identity).call_delete_user(&mut *store, &id).await?,
            |()| Reply::Done,
        ),
        SsoAuthorizeUrl {
            redirect_uri,
            state,
            flow,
        } => done(
            guest!(identity)
                .call_sso_authorize_url(&mut *store, &redirect_uri, &state, flow.as_deref())
                .await?,
            Reply::Url,
        ),
        SsoResolve { request } => done(
            guest!(identity)
                .call_sso_resolve(&mut *store, &request)
                .await?,
            Reply::SsoUser,
        ),
        LoginUrl { user_id, target } => done(
            guest!(identity).call_login_url(&mut *store, &user_id, target.as_deref()).await?,
            Reply::Url,
        ),
        ListRoles {} => done(guest!(roles).call_list_roles(&mut *store).await?, Reply::Roles),
        CreateRole { name } => done(guest!(roles).call_create_role(&mut *store, &name).await?, Reply::Role),
        ListRoleMembers { role_id: id } => done(guest!(roles).call_list_members(&mut *store, &id).await?, Reply::Members),
        AddRoleMembers { role_id: id, user_ids: users } => done(
            guest!(roles).call_add_members(&mut *store, &id, &users).await?,
            |()| Reply::Done,
        ),
        RemoveRoleMembers { role_id: id, user_ids: users } => done(
            guest!(roles).call_remove_members(&mut *store, &id, &users).await?,
            |()| Reply::Done,
        ),
        SetUserActive { id, active } => done(
            guest!(user_status).call_set_active(&mut *store, &id, active).await?,
            |()| Reply::Done,
        ),
        Send { message } => done(
            guest!(messaging).call_send(&mut *store, &message).await?,
            Reply::Sent,
        ),
        Recall { message_id: id } => done(
            guest!(messaging).call_recall(&mut *store, &id).await?,
            |()| Reply::Done,
        ),
        ReadStatus { message_id: id } => done(
            guest!(messaging).call_read_status(&mut *store, &id).await?,
            Reply::ReadReceipts,
        ),
        CreateApproval { request } => done(
            guest!(approval).call_create(&mut *store, &request).await?,
            Reply::Created,
        ),
        GetApproval { id, template } => done(
            guest!(approval)
                .call_get(&mut *store, &id, template.as_deref())
                .await?,
            Reply::Instance,
        ),
        ActOnApproval { request } => done(
            guest!(approval).call_act(&mut *store, &request).await?,
            |()| Reply::Done,
        ),
        CancelApproval { request } => done(
            guest!(approval).call_cancel(&mut *store, &request).await?,
            |()| Reply::Done,
        ),
        RemindApproval { request } => done(
            guest!(approval).call_remind(&mut *store, &request).await?,
            |()| Reply::Done,
        ),
        CreateTask { task, idempotency_key: key } => done(
            guest!(tasks).call_create(&mut *store, &task, key.as_deref()).await?,
            Reply::Task,
        ),
        GetTask { id } => done(guest!(tasks).call_get(&mut *store, &id).await?, Reply::Task),
        UpdateTask { id, changes } => done(
            guest!(tasks).call_update(&mut *store, &id, &changes).await?,
            Reply::Task,
        ),
        MoveTask { id, target } => done(
            guest!(tasks).call_move_to(&mut *store, &id, &target).await?,
            Reply::Task,
        ),
        CompleteTask { id } => done(guest!(tasks).call_complete(&mut *store, &id).await?, Reply::Task),
        ReopenTask { id } => done(guest!(tasks).call_reopen(&mut *store, &id).await?, Reply::Task),
        CommentOnTask { id, text, author } => done(
            guest!(tasks).call_comment(&mut *store, &id, &text, author.as_deref()).await?,
            Reply::TaskComment,
        ),
        ListTasks { query } => done(guest!(tasks).call_list(&mut *store, &query).await?, Reply::TaskPage),
        CreateChat { chat, idempotency_key: key } => done(
            guest!(chats).call_create(&mut *store, &chat, key.as_deref()).await?,
            Reply::Chat,
        ),
        GetChat { id } => done(guest!(chats).call_get(&mut *store, &id).await?, Reply::Chat),
        AddChatMembers { chat_id, user_ids } => done(
            guest!(chats).call_add_members(&mut *store, &chat_id, &user_ids).await?,
            |()| Reply::Done,
        ),
        RemoveChatMembers { chat_id, user_ids } => done(
            guest!(chats).call_remove_members(&mut *store, &chat_id, &user_ids).await?,
            |()| Reply::Done,
        ),
        Webhook { request } => done(
            guest!(webhook).call_handle(&mut *store, &request).await?,
            Reply::Webhook,
        ),
        Poll { cursor } => done(
            guest!(poll)
                .call_poll(&mut *store, cursor.as_deref())
                .await?,
            Reply::Batch,
        ),
        // Unreachable: the capability is checked first, and 0.2.0 has no event-stream.
        StreamOpen { .. } | StreamFrame { .. } => Err(types::Error::new(
            types::ErrorKind::Unsupported,
            "event-stream needs connector contract 0.3.0".to_string(),
        )),
    })
}

//! Calls on a connector built for contract 0.1.0 (frozen). Arguments go down to its records and answers come up
//! to the latest's; records whose shape did not change carry over field by field (`same_shape`). What 0.1.0
//! cannot express is refused (clearing fields, new operations) or reported (mentions), never silently dropped.

use wasmtime::Store;
use wasmtime::component::Instance;

use qiao_contract::bindings as latest;
use qiao_contract::v0_1_0::{identity, messaging, not_in_v0_1_0, same_shape, unrendered_mentions, webhook};
use qiao_contract::{Call, Reply, types};

use super::Outcome;
use crate::exports::v0_1_0::Indices;
use crate::sandbox::HostState;

pub async fn describe(
    exports: &Indices,
    store: &mut Store<HostState>,
    instance: &Instance,
) -> wasmtime::Result<Option<latest::describe::Info>> {
    match &exports.describe {
        Some(describe) => {
            let info = describe.load(&mut *store, instance)?.call_describe(&mut *store).await?;
            Ok(Some(info.into()))
        }
        None => Ok(None),
    }
}

pub async fn dispatch(exports: &Indices, store: &mut Store<HostState>, instance: &Instance, call: Call) -> Outcome {
    use Call::*;
    macro_rules! guest {
        ($field:ident) => {
            exports.$field.as_ref().expect("capability checked before dispatch").load(&mut *store, instance)?
        };
    }
    /// The guest's answer, converted up to the latest's reply.
    fn up<T>(
        answer: Result<T, types::Error>,
        reply: impl FnOnce(T) -> wasmtime::Result<Reply>,
    ) -> wasmtime::Result<Result<Reply, types::Error>> {
        match answer {
            Ok(value) => reply(value).map(Ok),
            Err(e) => Ok(Err(e)),
        }
    }
    let department = |d: identity::Department| -> latest::identity::Department { d.into() };
    let done = |()| Ok(Reply::Done);
    match call {
        ListDepartments { parent, recursive } => up(
            guest!(identity).call_list_departments(&mut *store, parent.as_deref(), recursive).await?,
            |ds| Ok(Reply::Departments(ds.into_iter().map(department).collect())),
        ),
        GetDepartment { id } => up(guest!(identity).call_get_department(&mut *store, &id).await?, |d| {
            Ok(Reply::Department(department(d)))
        }),
        CreateDepartment { fields, idempotency_key: key } => up(
            guest!(identity).call_create_department(&mut *store, &(&fields).into(), key.as_deref()).await?,
            |d| Ok(Reply::Department(department(d))),
        ),
        UpdateDepartment { id, fields } => up(
            guest!(identity).call_update_department(&mut *store, &id, &(&fields).into()).await?,
            done,
        ),
        DeleteDepartment { id } => up(guest!(identity).call_delete_department(&mut *store, &id).await?, done),
        ListUsers { department, cursor, limit } => up(
            guest!(identity).call_list_users(&mut *store, &department, cursor.as_deref(), limit).await?,
            |page| Ok(Reply::UserPage(same_shape(&page)?)),
        ),
        GetUser { id } => up(guest!(identity).call_get_user(&mut *store, &id).await?, |u| {
            Ok(Reply::User(same_shape(&u)?))
        }),
        FindUser { key } => up(guest!(identity).call_find_user(&mut *store, &same_shape(&key)?).await?, |id| {
            Ok(Reply::UserId(id))
        }),
        CreateUser { fields, idempotency_key: key } => {
            let fields: identity::UserFields = match (&fields).try_into() {
                Ok(fields) => fields,
                Err(e) => return Ok(Err(e)),
            };
            up(guest!(identity).call_create_user(&mut *store, &fields, key.as_deref()).await?, |u| {
                Ok(Reply::User(same_shape(&u)?))
            })
        }
        UpdateUser { id, fields } => {
            let fields: identity::UserFields = match (&fields).try_into() {
                Ok(fields) => fields,
                Err(e) => return Ok(Err(e)),
            };
            up(guest!(identity).call_update_user(&mut *store, &id, &fields).await?, done)
        }
        DeleteUser { id } => up(guest!(identity).call_delete_user(&mut *store, &id).await?, done),
        SsoAuthorizeUrl { redirect_uri, state, flow } => up(
            guest!(identity).call_sso_authorize_url(&mut *store, &redirect_uri, &state, flow.as_deref()).await?,
            |url| Ok(Reply::Url(url)),
        ),
        SsoResolve { request } => up(
            guest!(identity).call_sso_resolve(&mut *store, &same_shape(&request)?).await?,
            |user| Ok(Reply::SsoUser(same_shape(&user)?)),
        ),
        ListRoles {} => up(guest!(roles).call_list_roles(&mut *store).await?, |roles| {
            Ok(Reply::Roles(same_shape(&roles)?))
        }),
        CreateRole { name } => up(guest!(roles).call_create_role(&mut *store, &name).await?, |role| {
            Ok(Reply::Role(same_shape(&role)?))
        }),
        ListRoleMembers { role_id } => up(guest!(roles).call_list_members(&mut *store, &role_id).await?, |m| {
            Ok(Reply::Members(m))
        }),
        AddRoleMembers { role_id, user_ids } => {
            up(guest!(roles).call_add_members(&mut *store, &role_id, &user_ids).await?, done)
        }
        RemoveRoleMembers { role_id, user_ids } => {
            up(guest!(roles).call_remove_members(&mut *store, &role_id, &user_ids).await?, done)
        }
        SetUserActive { id, active } => {
            up(guest!(user_status).call_set_active(&mut *store, &id, active).await?, done)
        }
        Send { message } => {
            let down = messaging::Message::try_from(&message)?;
            up(guest!(messaging).call_send(&mut *store, &down).await?, |sent| {
                let mut sent: latest::messaging::SendResult = same_shape(&sent)?;
                sent.problems.extend(unrendered_mentions(&message.mentions));
                Ok(Reply::Sent(sent))
            })
        }
        Recall { message_id } => up(guest!(messaging).call_recall(&mut *store, &message_id).await?, done),
        ReadStatus { message_id } => up(guest!(messaging).call_read_status(&mut *store, &message_id).await?, |r| {
            Ok(Reply::ReadReceipts(same_shape(&r)?))
        }),
        CreateApproval { request } => up(
            guest!(approval).call_create(&mut *store, &same_shape(&request)?).await?,
            |created| Ok(Reply::Created(same_shape(&created)?)),
        ),
        GetApproval { id, template } => up(
            guest!(approval).call_get(&mut *store, &id, template.as_deref()).await?,
            |instance| Ok(Reply::Instance(same_shape(&instance)?)),
        ),
        ActOnApproval { request } => {
            up(guest!(approval).call_act(&mut *store, &same_shape(&request)?).await?, done)
        }
        CancelApproval { request } => {
            up(guest!(approval).call_cancel(&mut *store, &same_shape(&request)?).await?, done)
        }
        Webhook { request } => up(
            guest!(webhook).call_handle(&mut *store, &webhook::Request::from(&request)).await?,
            |outcome| Ok(Reply::Webhook(outcome.into())),
        ),
        Poll { cursor } => up(guest!(poll).call_poll(&mut *store, cursor.as_deref()).await?, |batch| {
            Ok(Reply::Batch(latest::poll::Batch { events: batch.events, next_cursor: batch.next_cursor }))
        }),
        LoginUrl { .. } | RemindApproval { .. } | CreateTask { .. } | GetTask { .. } | UpdateTask { .. }
        | MoveTask { .. } | CompleteTask { .. } | ReopenTask { .. } | CommentOnTask { .. } | ListTasks { .. }
        | CreateChat { .. } | GetChat { .. } | AddChatMembers { .. } | RemoveChatMembers { .. } | StreamOpen { .. }
        | StreamFrame { .. } => {
            Ok(Err(not_in_v0_1_0(call.stored_name())))
        }
    }
}

//! The one `match` that turns a [`Call`] into the guest call on an instance.

use wasmtime::Store;
use wasmtime::component::Instance;

use qiao_contract::types;
use qiao_contract::{Call, Reply};

use crate::connector::Exports;
use crate::sandbox::HostState;

type Outcome = wasmtime::Result<Result<Reply, types::Error>>;

/// Calls the guest. The caller has checked that the component exports `call.capability()`.
pub async fn dispatch(
    exports: &Exports,
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
    })
}

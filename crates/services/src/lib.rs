//! qiao-services: what Qiao does with connectors, transport-neutral.
//!
//! - `app`: [`App`], the services of one server around its [`Runtime`](qiao_runtime::Runtime) and store.
//! - `outbox/*`: writes to platforms, committed then delivered with retries (`worker`, `retry`), paced per
//!   connection (`throttle`); `write`: what is stored for each write and how its reply is rendered.
//! - `gate`: what the open webhook routes let through (a bucket per connection, one pool).
//! - `inbound`: storing webhook and polled events; scheduled polls. `streams/*`: events over outbound
//!   WebSockets the host holds for connectors that export `event-stream`. `subscribers/*`: signed delivery of events.
//! - `approvals`: the stored view of approvals and its reconciliation with the platforms.
//! - `deadlines/*`: reminders and escalation of approvals left pending, in business time; overdue figures.
//! - `rules/*`: rules over the event log, their writes through the API, echoes and links.
//! - `sync/*`: directory sync runs (read a platform, apply a plan through the outbox, schedules).
//! - `addressing`: enterprise person and department ids turned into a connection's platform ids.
//! - `sso`: sign-in with Qiao's CSRF states and single-use codes. `access`: API keys and scopes.
//! - `rotate`: `qiao secrets rotate`. `failure`: [`Failure`], the error every service answers with.
//!
//! Must not know about: HTTP (no axum; a `Failure` has a kind, the API maps it to a status), SQL (qiao-store),
//! or how a component is run (qiao-runtime).

pub mod access;
pub mod addressing;
pub mod app;
pub mod approvals;
pub mod deadlines;
pub mod failure;
pub mod gate;
pub mod inbound;
pub mod outbox;
pub mod retention;
pub mod rotate;
pub mod rules;
pub mod sso;
pub mod streams;
pub mod subscribers;
pub mod sync;

pub use app::App;
pub use failure::{Failure, FailureKind};

//! A peer of Qiao's `?wait` send: the same durable relay written natively, as small as it can be and keep the
//! promise. `POST /messages` commits the operation (with its audit row) before trying it, sends it to the
//! simulator with reqwest (keep-alive), commits the outcome (with the receiver the Feishu connector keeps for
//! read receipts) and answers it: the two commits and one HTTP hop Qiao makes, with the same rows
//! (`common::native_rows`), without the sandbox, the REST API's checks, the outbox or JSON of its own. Qiao's
//! rate as a ratio of this one is what its architecture costs; this one as a ratio of raw HTTP is the ceiling any
//! durable relay reaches on the machine.
//!
//! It runs in its own process, as Qiao does, so that its CPU is counted apart from the clients and the simulator:
//! the bench's own executable started again with [`ENV`] set (see [`serve_if_asked`]).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;
use tokio::sync::oneshot;

use crate::common::native_rows;

/// Set to `DB_PATH SIM_BASE APP_ID APP_SECRET`: this process is the relay.
pub const ENV: &str = "QIAO_BENCH_RELAY";

/// The relay's process, killed when dropped.
pub struct RelayChild {
    process: tokio::process::Child,
    pub base: String,
}

impl RelayChild {
    /// Starts the relay against the simulator at `sim_base`, its file in `dir`; returns once it listens.
    pub async fn start(dir: &Path, sim_base: &str, app_id: &str, app_secret: &str) -> Result<RelayChild> {
        let db = dir.join("relay.db");
        let mut process = tokio::process::Command::new(std::env::current_exe()?)
            .env(ENV, format!("{} {sim_base} {app_id} {app_secret}", db.display()))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("start the native relay")?;
        let stdout = process.stdout.take().context("the relay's stdout")?;
        let line = tokio::io::BufReader::new(stdout).lines().next_line().await?.unwrap_or_default();
        let Some(addr) = line.strip_prefix("relay listening on ") else {
            bail!("the native relay did not start: {line:?}");
        };
        Ok(RelayChild { base: format!("http://{addr}"), process })
    }

    pub fn pid(&self) -> u32 {
        self.process.id().unwrap_or(0)
    }
}

/// In the relay's process (started by [`RelayChild::start`]), serves until killed; elsewhere `None`.
pub fn serve_if_asked() -> Option<Result<()>> {
    let args = std::env::var(ENV).ok()?;
    // Shaped as `qiao serve` runs by default (one thread up to 7 cores, else a quarter of them, work-stealing), so
    // the ratio is of the two programs, not of two runtimes: one thread serves the relay faster too (on 2 cores,
    // 9,173–9,190 → 9,728–10,397 sends/s, 95–97 → 74–79 µs of CPU each).
    let rt = match qiao::server::runtime(qiao::server::default_workers()) {
        Ok(rt) => rt,
        Err(e) => return Some(Err(e.into())),
    };
    Some(rt.block_on(serve(args)))
}

struct Relay {
    writer: std::sync::mpsc::Sender<Job>,
    client: reqwest::Client,
    send_url: String,
    token: String,
}

async fn serve(args: String) -> Result<()> {
    let [db, sim, app_id, app_secret] = args.split(' ').collect::<Vec<_>>()[..] else {
        bail!("{ENV} is DB_PATH SIM_BASE APP_ID APP_SECRET, not {args:?}");
    };
    let client = reqwest::Client::new();
    // As the SDK gets it, once: the relay's token never expires within a row.
    let token: Value = client
        .post(format!("{sim}/open-apis/auth/v3/tenant_access_token/internal"))
        .json(&json!({ "app_id": app_id, "app_secret": app_secret }))
        .send()
        .await?
        .json()
        .await?;
    let (jobs, queue) = std::sync::mpsc::channel();
    let file = native_rows::open(Path::new(db));
    std::thread::Builder::new().name("relay-writer".into()).spawn(move || writer(file, queue))?;
    let relay = Arc::new(Relay {
        writer: jobs,
        client,
        send_url: format!("{sim}/open-apis/im/v1/messages?receive_id_type=user_id"),
        token: token["tenant_access_token"].as_str().context("no tenant_access_token")?.to_string(),
    });
    let app = axum::Router::new().route("/messages", axum::routing::post(send)).with_state(relay);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    println!("relay listening on {addr}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// `{"to": {"users": [id]}, "text": "…"}`: sent to its one user, answered with the stored result.
async fn send(
    State(relay): State<Arc<Relay>>,
    Json(message): Json<Value>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let (Some(user), Some(text)) = (message["to"]["users"][0].as_str(), message["text"].as_str()) else {
        return Err((StatusCode::BAD_REQUEST, "to.users[0] and text are required".into()));
    };
    let request = message.to_string();
    let id = relay
        .commit(move |c| native_rows::accept(c, &request, &hex::encode(Sha256::digest(&request)), qiao_store::now_ms()))
        .await?;
    let body = json!({
        "receive_id": user,
        "msg_type": "text",
        "content": json!({ "text": text }).to_string(),
        // The platform de-duplicates a retried attempt by the operation's own id.
        "uuid": crate::uuid(&format!("relay-op-{id}")),
    });
    let answer: Value = async {
        let response = relay.client.post(&relay.send_url).bearer_auth(&relay.token).json(&body).send().await?;
        response.error_for_status()?.json().await
    }
    .await
    .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    let message_id = answer["data"]["message_id"].as_str().unwrap_or_default();
    let result = json!({ "status": 200, "body": { "message_id": message_id } });
    let (key, stored) = (format!("receiver:{message_id}"), result.to_string());
    relay
        .commit(move |c| {
            native_rows::succeed(c, id, &stored, &key, qiao_store::now_ms()).map(|()| id)
        })
        .await?;
    Ok(Json(json!({ "id": id, "status": "succeeded", "result": result })))
}

/// One piece of work for the writer: run in the next transaction, answered once that committed.
type Job = (Box<dyn FnOnce(&rusqlite::Connection) -> rusqlite::Result<i64> + Send>, oneshot::Sender<i64>);

/// The file's one writer: everything waiting when it looks goes into one transaction (group commit), as in any
/// durable server that has more than one request in flight; each is answered after the commit.
fn writer(c: rusqlite::Connection, jobs: std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let batch: Vec<Job> = std::iter::once(first).chain(jobs.try_iter()).collect();
        let mut outcomes = Vec::with_capacity(batch.len());
        let committed = c.unchecked_transaction().and_then(|tx| {
            let mut replies = Vec::with_capacity(batch.len());
            for (work, reply) in batch {
                outcomes.push(work(&tx)?);
                replies.push(reply);
            }
            tx.commit().map(|()| replies)
        });
        match committed {
            // A caller that went away is not waiting for its answer.
            Ok(replies) => replies.into_iter().zip(outcomes).for_each(|(reply, out)| {
                let _ = reply.send(out);
            }),
            // The senders of a failed batch are dropped: their requests fail.
            Err(e) => eprintln!("relay: a batch failed: {e}"),
        }
    }
}

impl Relay {
    /// `work` in the writer's next transaction, committed before this returns.
    async fn commit(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<i64> + Send + 'static,
    ) -> Result<i64, (StatusCode, String)> {
        let (reply, answer) = oneshot::channel();
        let failed = |why: String| (StatusCode::INTERNAL_SERVER_ERROR, why);
        self.writer.send((Box::new(work), reply)).map_err(|e| failed(e.to_string()))?;
        answer.await.map_err(|_| failed("the transaction failed".into()))
    }
}

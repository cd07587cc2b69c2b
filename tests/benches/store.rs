//! What the store costs a durable send, as the outbox makes one with `?wait`: the operation committed with its
//! audit row (taken for its first attempt), the connector's kv write, and the success — from 16 tasks at once,
//! through the writer's group commit. Beside it, the same rows written natively with rusqlite on one thread,
//! one transaction per send: what the SQL itself costs, measured in the same run.
//!
//! Run: `cargo bench -p qiao-tests --bench store` (`QIAO_BENCH_N` sends, default 20,000; 200 in quick mode).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use qiao_secrets::MasterKey;
use qiao_store::{Db, Enqueued, NewAuditEntry, NewOperation};

use common::{concurrently, native_rows, process_cpu, quick_mode, thread_cpu};

const TASKS: usize = 16;
const REQUEST: &str = r#"{"Send":{"message":{"to":{"users":["ou_1"]},"text":"hello from the bench"}}}"#;
const RESULT: &str = r#"{"status":200,"body":{"message_id":"om_0123456789"}}"#;

fn main() {
    let default = if quick_mode() { 200 } else { 20_000 };
    let n: usize = std::env::var("QIAO_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let store = rt.block_on(through_the_store(&dir.path().join("store.db"), n));
    let native = native(&dir.path().join("native.db"), n);
    println!("| path | sends | per second | CPU µs per send | writer thread µs per send |");
    println!("|---|---:|---:|---:|---:|");
    for (name, m) in [("store (16 tasks, group commit)", &store), ("native rusqlite (1 thread, 1 commit per send)", &native)] {
        println!(
            "| {name} | {n} | {:.0} | {:.1} | {} |",
            n as f64 / m.wall.as_secs_f64(),
            m.cpu.as_micros() as f64 / n as f64,
            m.writer.map_or("–".into(), |w| format!("{:.1}", w.as_micros() as f64 / n as f64)),
        );
    }
    println!(
        "\nstore / native CPU per send: {:.2}×",
        store.cpu.as_secs_f64() / native.cpu.as_secs_f64()
    );
}

struct Measured {
    wall: Duration,
    cpu: Duration,
    writer: Option<Duration>,
}

async fn through_the_store(path: &std::path::Path, n: usize) -> Measured {
    let db = Db::open(path, MasterKey::generate()).unwrap();
    let (cpu0, writer0) = (cpu(), writer_cpu());
    // Kept here: the writer's thread ends with the last handle, and its time is read after the run.
    let shared = db.clone();
    let wall = concurrently(n, TASKS, move |i| {
        let db = shared.clone();
        async move {
            send(&db, i).await;
            Ok(())
        }
    })
    .await
    .unwrap();
    Measured { wall, cpu: cpu() - cpu0, writer: writer_cpu().zip(writer0).map(|(now, then)| now - then) }
}

fn cpu() -> Duration {
    process_cpu().expect("/proc/self/stat")
}

/// The store's writer thread, when it has one (opened outside a runtime); in a runtime, as here, its commits run
/// on the runtime's threads (see `qiao_store::writer`) and are counted in the CPU column only.
fn writer_cpu() -> Option<Duration> {
    thread_cpu("qiao-store")
}

async fn send(db: &Arc<Db>, i: usize) {
    let op = NewOperation {
        connection: "feishu".into(),
        operation: "send".into(),
        request: REQUEST.into(),
        idempotency_key: None,
        request_hash: i.to_string(),
        actor: Some("key-1".into()),
        cause: None,
        audit: Some(audit()),
        start: true,
    };
    let Enqueued::New(op) = db.enqueue(op).await.unwrap() else { panic!("a new operation") };
    let key = format!("receiver:om_{}", op.id);
    db.kv_set("feishu".into(), key, b"\"ou_1\"".to_vec(), Some(7 * 24 * 3600), 1 << 30, 1 << 20).await.unwrap().unwrap();
    let result: serde_json::Value = serde_json::from_str(RESULT).unwrap();
    assert!(db.succeed(op.id, result, qiao_store::now_ms()).await.unwrap());
}

/// The row of the accepted send (the store adds its operation's id).
fn audit() -> NewAuditEntry {
    NewAuditEntry {
        actor: "key-1".into(),
        actor_name: Some("bench".into()),
        action: "POST /v1/connections/{connection}/messages".into(),
        target: "/v1/connections/feishu/messages".into(),
        connection: Some("feishu".into()),
        status: 202,
        error: None,
        operation_id: None,
    }
}

/// The same rows on a file with the store's schema and pragmas, written with plain rusqlite statements.
fn native(path: &std::path::Path, n: usize) -> Measured {
    let c = native_rows::open(path);
    let cpu0 = cpu();
    let started = Instant::now();
    for i in 0..n {
        let now = qiao_store::now_ms();
        let tx = c.unchecked_transaction().unwrap();
        let id = native_rows::accept(&tx, REQUEST, &i.to_string(), now).unwrap();
        native_rows::succeed(&tx, id, RESULT, &format!("receiver:om_{id}"), now).unwrap();
        tx.commit().unwrap();
    }
    Measured { wall: started.elapsed(), cpu: cpu() - cpu0, writer: None }
}

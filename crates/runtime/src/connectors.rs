//! The connector directory, where a connector is loaded: every `*.wasm` file is a connector. Files are watched —
//! add one and it is live, replace it and it reloads, remove it and it is gone — within about a second.
//! A file that fails to load is reported and the version loaded before keeps serving.
//!
//! Each file's detached signature `NAME.wasm.sig`, if any, is checked against `[trust]` before the file is
//! compiled (see `trust`); changing, adding or removing the `.sig` alone loads its `.wasm` again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use notify::Watcher;


use crate::connector::Connector;
use crate::registry::{Stamp, rebuild_index};
use crate::runtime::Runtime;
use qiao_trust::{self as trust, Policy, TrustConfig, Verdict};

/// A periodic rescan catches what file events miss (network filesystems, editors that swap files).
const RESCAN_EVERY: Duration = Duration::from_secs(2);
/// Events come in bursts while a file is written: wait for quiet before loading.
const SETTLE: Duration = Duration::from_millis(150);
/// Larger files are refused before they are read.
pub const MAX_COMPONENT_BYTES: u64 = 256 * 1024 * 1024;


/// Brings the registry in line with the directory: loads new and changed files, drops removed ones.
pub async fn rescan(runtime: &Runtime) {
    scan(runtime).await;
    runtime.connectors.first_scan_done();
}

async fn scan(runtime: &Runtime) {
    let registry = &runtime.connectors;
    let _one_at_a_time = registry.scanning.lock().await;
    let present = match list_components(&registry.dir) {
        Ok(present) => present,
        Err(e) => {
            tracing::error!(dir = %registry.dir.display(), "cannot read the connector directory: {e:#}");
            return;
        }
    };
    // Connectors loaded in this scan: their connections' missing host grants are reported once they serve.
    let mut loaded = Vec::new();
    let removed = {
        let mut files = registry.files.write().unwrap();
        let before = files.len();
        files.retain(|path, _| present.contains_key(path));
        files.len() != before
    };
    // The index follows each change as it happens: a removed file stops serving now, and each loaded one
    // serves as soon as it is loaded (below), not after the slowest file of the scan.
    if removed {
        rebuild_index(registry);
    }
    // Smallest first: compiling takes about as long as a file is big, so the connectors that are ready in a
    // second do not wait behind an 18 MB Python one (calls made at start wait for their own connector).
    let mut order: Vec<_> = present.iter().collect();
    order.sort_by_key(|(path, ((_, size), _))| (*size, (*path).clone()));
    for (path, stamp) in order {
        let unchanged = registry
            .files
            .read()
            .unwrap()
            .get(path)
            .is_some_and(|f| f.seen == Some(*stamp));
        if unchanged {
            continue;
        }
        let started = std::time::Instant::now();
        let (result, verdict) = load_file(runtime, path, stamp.0.1).await;
        let name = match &result {
            Ok(connector) => connector.id().to_string(),
            Err(_) => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        qiao_metrics::connector_load(&name, result.is_ok(), started.elapsed());
        let mut files = registry.files.write().unwrap();
        let file = files.entry(path.clone()).or_default();
        file.seen = Some(*stamp);
        file.trust = verdict;
        match result {
            Ok(connector) => {
                let connector = Arc::new(connector);
                loaded.push(connector.clone());
                file.loaded = Some(connector);
                file.error = None;
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::error!(
                    file = %path.display(),
                    serving_previous = file.loaded.is_some(),
                    "connector failed to load: {error}"
                );
                file.error = Some(error);
            }
        }
        drop(files);
        rebuild_index(registry);
    }
    for connector in loaded {
        if registry
            .get(connector.id())
            .is_some_and(|serving| Arc::ptr_eq(&serving, &connector))
        {
            runtime.warn_missing_grants(&connector);
        }
    }
}

/// Reads, checks against the trust policy, and loads one file; also returns its signature check.
async fn load_file(runtime: &Runtime, path: &Path, size: u64) -> (Result<Connector>, Verdict) {
    if size > MAX_COMPONENT_BYTES {
        let error = anyhow::anyhow!("file is larger than {MAX_COMPONENT_BYTES} bytes");
        return (Err(error), Verdict::default());
    }
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) => return (Err(e.into()), Verdict::default()),
    };
    let policy = runtime.connectors.trust.policy;
    let (bytes, verdict) = check_signature(&runtime.connectors.trust, path, bytes).await;
    if let Err(refused) = verdict.admit(policy) {
        return (Err(anyhow::anyhow!(refused)), verdict);
    }
    if let (Policy::Warn, false, Some(problem)) = (policy, verdict.verified, &verdict.problem) {
        tracing::warn!(
            file = %path.display(),
            "connector is not verified ({problem}); loading it because [trust] policy is warn \
             (production should use policy = \"require\")"
        );
    } else if verdict.verified {
        tracing::info!(
            file = %path.display(),
            publisher = verdict.publisher.as_deref().unwrap_or_default(),
            "connector signature verified"
        );
    }
    (runtime.load_connector(path, bytes).await, verdict)
}

/// Checks a file's bytes against its `.sig` file (hashing off the async threads); hands the bytes back.
async fn check_signature(trust: &TrustConfig, path: &Path, bytes: Vec<u8>) -> (Vec<u8>, Verdict) {
    let sig_path = trust::signature_path(path);
    let sig_name = sig_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cannot_read = |e: std::io::Error| Verdict {
        signed: true,
        problem: Some(format!("cannot read {sig_name}: {e}")),
        ..Verdict::default()
    };
    let signed = match tokio::fs::metadata(&sig_path).await {
        Ok(meta) => meta.is_file(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return (bytes, cannot_read(e)),
    };
    if trust.policy == Policy::Off {
        // Not read at all: only whether there is one is reported.
        let verdict = Verdict {
            signed,
            ..Verdict::default()
        };
        return (bytes, verdict);
    }
    if !signed {
        return (bytes, Verdict::unsigned(&sig_name));
    }
    let sig = match read_limited(&sig_path, trust::MAX_SIG_BYTES).await {
        Ok(sig) => sig,
        Err(e) => return (bytes, cannot_read(e)),
    };
    let trust = trust.clone();
    match tokio::task::spawn_blocking(move || {
        let verdict = trust::verify(&bytes, &sig, &trust);
        (bytes, verdict)
    })
    .await
    {
        Ok(checked) => checked,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A file's contents, refused when larger than `max` bytes.
async fn read_limited(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    tokio::fs::File::open(path)
        .await?
        .take(max + 1)
        .read_to_end(&mut out)
        .await?;
    if out.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(out)
}


/// Every `*.wasm` file, with its stamp and its `.sig` file's (if any).
fn list_components(dir: &Path) -> Result<BTreeMap<PathBuf, (Stamp, Option<Stamp>)>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm")
            && let Ok(meta) = std::fs::metadata(&path)
            && meta.is_file()
        {
            let sig = std::fs::metadata(trust::signature_path(&path))
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            out.insert(path, ((meta.modified()?, meta.len()), sig));
        }
    }
    Ok(out)
}

/// Watches the directory until the runtime is dropped, starting with the first scan. Returns at once: the
/// registry says when the first scan has ended (`Registry::ready`).
pub async fn watch(runtime: Arc<Runtime>) -> Result<()> {
    std::fs::create_dir_all(runtime.connectors.dir())?;
    if let Some(warning) = runtime.connectors.trust.startup_warning() {
        tracing::warn!("{warning}");
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(runtime.connectors.dir(), notify::RecursiveMode::NonRecursive)?;
    let weak = Arc::downgrade(&runtime);
    drop(runtime);
    // The first scan runs here too, not before the server listens: compiling a cold cache takes seconds per
    // connector, and until it ends `/readyz` says so and calls wait for their connector (bounded).
    tokio::spawn(async move {
        let _watcher = watcher;
        let mut tick = tokio::time::interval(RESCAN_EVERY);
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    event = rx.recv() => {
                        if event.is_none() { break; }
                        tokio::time::sleep(SETTLE).await;
                        while rx.try_recv().is_ok() {}
                    }
                    _ = tick.tick() => {}
                }
            }
            let Some(runtime) = weak.upgrade() else { break };
            rescan(&runtime).await;
            if std::mem::take(&mut first) {
                runtime.warn_unserved_connections();
                tick.reset();
            }
        }
    });
    Ok(())
}

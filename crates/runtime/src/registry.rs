//! The connectors loaded now, by file and by id: what a call resolves its connector in, and what
//! `GET /v1/connectors` lists. Filled by the connector directory (`connectors`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::Serialize;

use qiao_contract::Capability;
use qiao_trust::{TrustConfig, Verdict};

use crate::connector::Connector;

/// Modification time and size of a file.
pub(crate) type Stamp = (SystemTime, u64);

#[derive(Default)]
pub(crate) struct ComponentFile {
    /// The `.wasm` file's stamp and its `.sig` file's (if any) last seen: unchanged files are not read again.
    pub(crate) seen: Option<(Stamp, Option<Stamp>)>,
    pub(crate) loaded: Option<Arc<Connector>>,
    pub(crate) error: Option<String>,
    /// The signature check of the file last read.
    pub(crate) trust: Verdict,
}

pub struct Registry {
    pub(crate) dir: PathBuf,
    pub(crate) files: RwLock<BTreeMap<PathBuf, ComponentFile>>,
    by_id: RwLock<HashMap<String, Arc<Connector>>>,
    /// Rescans one at a time.
    pub(crate) scanning: tokio::sync::Mutex<()>,
    /// Which files may load (`[trust]` in the config); set before the directory is first scanned.
    pub trust: TrustConfig,
    /// Changes as connectors load at start: the server answers before the first scan has compiled everything,
    /// and what waits for a connector (a call, `/readyz`) watches this.
    loading: tokio::sync::watch::Sender<Loading>,
}

/// Progress of the connector directory's first scan.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Loading {
    /// The first scan has ended: every file present at start has loaded or failed.
    pub done: bool,
    /// Bumped at each change of the index, so a waiter sees a connector arrive before the scan ends.
    pub changes: u64,
}

/// A row of `GET /v1/connectors`.
#[derive(Debug, Serialize)]
pub struct ConnectorStatus {
    pub file: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub vendor: Option<String>,
    pub platform: Option<String>,
    /// The connector contract version it is built for.
    pub contract: Option<&'static str>,
    pub capabilities: Vec<Capability>,
    pub hosts: Vec<String>,
    /// The platform's documented request rates, as the connector states them.
    pub rate_hints: Vec<qiao_contract::describe::RateHint>,
    /// `loaded`; `failed` (nothing serving); or `stale` (the file failed to load, the previous version serves).
    pub state: &'static str,
    pub error: Option<String>,
    pub sha256: Option<String>,
    /// The signature check of the file as last read (which, when `stale`, is not the version serving).
    pub trust: Verdict,
}

impl Registry {
    pub fn new(dir: PathBuf) -> Registry {
        Registry {
            dir,
            files: RwLock::default(),
            by_id: RwLock::default(),
            scanning: tokio::sync::Mutex::new(()),
            trust: TrustConfig::default(),
            loading: tokio::sync::watch::Sender::new(Loading::default()),
        }
    }

    /// Whether the first scan of the directory has ended (`GET /readyz`).
    pub fn is_ready(&self) -> bool {
        self.loading.borrow().done
    }

    pub(crate) fn first_scan_done(&self) {
        self.loading.send_if_modified(|l| !std::mem::replace(&mut l.done, true));
    }

    /// Changes as connectors load, reload and go: for what follows the loaded set (event streams).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<Loading> {
        self.loading.subscribe()
    }

    /// Waits until the first scan has ended.
    pub async fn ready(&self) {
        let mut rx = self.loading.subscribe();
        let _ = rx.wait_for(|l| l.done).await;
    }

    /// The connector `id`; while the first scan is still going, waits for it at most `patience`, so a call
    /// that arrives during startup is served once its connector has compiled instead of being refused.
    pub async fn get_or_wait(&self, id: &str, patience: std::time::Duration) -> Option<Arc<Connector>> {
        let mut rx = self.loading.subscribe();
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(connector) = self.get(id) {
                return Some(connector);
            }
            if rx.borrow_and_update().done {
                return None;
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return None;
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Serves one connector by its id, outside the directory: for a runtime that judges a single component (the
    /// conformance suite), not for `qiao serve`.
    pub fn serve(&self, connector: Connector) {
        self.by_id.write().unwrap().insert(connector.info.id.clone(), Arc::new(connector));
    }

    /// The connector serving an id right now.
    pub fn get(&self, id: &str) -> Option<Arc<Connector>> {
        self.by_id.read().unwrap().get(id).cloned()
    }

    pub fn status(&self) -> Vec<ConnectorStatus> {
        let files = self.files.read().unwrap();
        files
            .iter()
            .map(|(path, file)| {
                let c = file.loaded.as_deref();
                ConnectorStatus {
                    file: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    id: c.map(|c| c.info.id.clone()),
                    name: c.map(|c| c.info.name.clone()),
                    version: c.map(|c| c.info.version.clone()),
                    vendor: c.map(|c| c.info.vendor.clone()),
                    platform: c.map(|c| c.info.platform.clone()),
                    contract: c.map(|c| c.contract),
                    capabilities: c.map(|c| c.exports.capabilities()).unwrap_or_default(),
                    hosts: c.map(|c| c.info.hosts.clone()).unwrap_or_default(),
                    rate_hints: c.map(|c| c.info.rate_hints.clone()).unwrap_or_default(),
                    state: match (c, &file.error) {
                        (Some(_), None) => "loaded",
                        (Some(_), Some(_)) => "stale",
                        (None, _) => "failed",
                    },
                    error: file.error.clone(),
                    sha256: c.map(|c| c.hash.clone()),
                    trust: file.trust.clone(),
                }
            })
            .collect()
    }
}

/// Maps ids to the connectors serving them. Two files claiming one id: the first (by file name) wins and the
/// other is reported.
pub(crate) fn rebuild_index(registry: &Registry) {
    index(registry);
    registry.loading.send_modify(|l| l.changes += 1);
}

fn index(registry: &Registry) {
    let mut files = registry.files.write().unwrap();
    let mut by_id: HashMap<String, Arc<Connector>> = HashMap::new();
    let mut owner: HashMap<String, PathBuf> = HashMap::new();
    for (path, file) in files.iter_mut() {
        let Some(connector) = &file.loaded else {
            continue;
        };
        let id = connector.info.id.clone();
        if let Some(first) = owner.get(&id) {
            file.error = Some(format!(
                "connector id {id:?} is already provided by {}",
                first.display()
            ));
            continue;
        }
        owner.insert(id.clone(), path.clone());
        by_id.insert(id, connector.clone());
    }
    *registry.by_id.write().unwrap() = by_id;
}

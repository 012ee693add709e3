//! Checkpoint stores (small JSON documents per flow, replaced durably) and the saver that
//! writes committed positions to them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::tracker::PositionTracker;

/// A checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint store: {0}")]
pub struct CheckpointError(pub String);

/// Durable `get`/`put` of small JSON documents, keyed by flow and key.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The stored value, if any.
    async fn get(&self, flow: &str, key: &str) -> Result<Option<Value>, CheckpointError>;
    /// Replaces the value durably.
    async fn put(&self, flow: &str, key: &str, value: Value) -> Result<(), CheckpointError>;
    /// Removes the value.
    async fn delete(&self, flow: &str, key: &str) -> Result<(), CheckpointError>;
}

/// One JSON file per flow in a directory, replaced atomically (write, fsync, rename, fsync dir).
pub struct FileCheckpointStore {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl FileCheckpointStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileCheckpointStore {
            dir: dir.into(),
            lock: Mutex::new(()),
        }
    }

    /// The file holding `flow`'s checkpoints.
    pub fn file_of(&self, flow: &str) -> PathBuf {
        let safe: String = flow
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }

    async fn read_all(&self, flow: &str) -> Result<Map<String, Value>, CheckpointError> {
        let file = self.file_of(flow);
        match tokio::fs::read(&file).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CheckpointError(format!(
                    "{} is not a checkpoint document: {e}",
                    file.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(e) => Err(CheckpointError(format!("reading {}: {e}", file.display()))),
        }
    }

    async fn write_all(
        &self,
        flow: &str,
        document: &Map<String, Value>,
    ) -> Result<(), CheckpointError> {
        let file = self.file_of(flow);
        let dir = self.dir.clone();
        let bytes = serde_json::to_vec_pretty(document).expect("checkpoint serialises");
        tokio::task::spawn_blocking(move || replace_file(&dir, &file, &bytes))
            .await
            .map_err(|e| CheckpointError(e.to_string()))?
    }
}

fn replace_file(dir: &Path, file: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    use std::io::Write;
    let fail =
        |what: &str, e: std::io::Error| CheckpointError(format!("{what} {}: {e}", file.display()));
    std::fs::create_dir_all(dir).map_err(|e| fail("creating the directory of", e))?;
    let temporary = file.with_extension("json.tmp");
    let mut handle = std::fs::File::create(&temporary).map_err(|e| fail("creating", e))?;
    handle.write_all(bytes).map_err(|e| fail("writing", e))?;
    handle.sync_all().map_err(|e| fail("syncing", e))?;
    std::fs::rename(&temporary, file).map_err(|e| fail("replacing", e))?;
    if let Ok(directory) = std::fs::File::open(dir) {
        let _ = directory.sync_all();
    }
    Ok(())
}

#[async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn get(&self, flow: &str, key: &str) -> Result<Option<Value>, CheckpointError> {
        let _guard = self.lock.lock().await;
        Ok(self.read_all(flow).await?.get(key).cloned())
    }

    async fn put(&self, flow: &str, key: &str, value: Value) -> Result<(), CheckpointError> {
        let _guard = self.lock.lock().await;
        let mut document = self.read_all(flow).await?;
        document.insert(key.to_string(), value);
        self.write_all(flow, &document).await
    }

    async fn delete(&self, flow: &str, key: &str) -> Result<(), CheckpointError> {
        let _guard = self.lock.lock().await;
        let mut document = self.read_all(flow).await?;
        if document.remove(key).is_some() {
            self.write_all(flow, &document).await?;
        }
        Ok(())
    }
}

/// A store in memory (for tests and for `checkpointPersistence: false`).
#[derive(Default)]
pub struct MemoryCheckpointStore {
    values: Mutex<BTreeMap<(String, String), Value>>,
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn get(&self, flow: &str, key: &str) -> Result<Option<Value>, CheckpointError> {
        Ok(self
            .values
            .lock()
            .await
            .get(&(flow.into(), key.into()))
            .cloned())
    }

    async fn put(&self, flow: &str, key: &str, value: Value) -> Result<(), CheckpointError> {
        self.values
            .lock()
            .await
            .insert((flow.into(), key.into()), value);
        Ok(())
    }

    async fn delete(&self, flow: &str, key: &str) -> Result<(), CheckpointError> {
        self.values.lock().await.remove(&(flow.into(), key.into()));
        Ok(())
    }
}

/// How the saver writes committed positions.
#[derive(Debug, Clone, Copy)]
pub struct SavePolicy {
    /// Least time between two saves (`checkpointSaveInterval`).
    pub interval: Duration,
    /// Save as soon as a commit moves (`checkpointSyncOnAck`), one write at a time.
    pub on_every_commit: bool,
}

/// Writes the tracker's committed positions to the store under `key` as
/// `{"streams": {name: position}}`, debounced by the policy, and once more when `stop` fires.
pub async fn run_saver(
    store: Arc<dyn CheckpointStore>,
    flow: String,
    key: String,
    tracker: PositionTracker,
    policy: SavePolicy,
    stop: CancellationToken,
) -> Result<(), CheckpointError> {
    let mut saved_version = 0;
    loop {
        if tracker.version() == saved_version {
            tokio::select! {
                _ = tracker.changed() => {}
                _ = stop.cancelled() => break,
            }
        }
        if !policy.on_every_commit {
            tokio::select! {
                _ = tokio::time::sleep(policy.interval) => {}
                _ = stop.cancelled() => break,
            }
        }
        let version = tracker.version();
        if version != saved_version {
            save(&*store, &flow, &key, &tracker).await?;
            saved_version = version;
        }
    }
    if tracker.version() != saved_version {
        save(&*store, &flow, &key, &tracker).await?;
    }
    Ok(())
}

async fn save(
    store: &dyn CheckpointStore,
    flow: &str,
    key: &str,
    tracker: &PositionTracker,
) -> Result<(), CheckpointError> {
    let streams: Map<String, Value> = tracker.committed().into_iter().collect();
    let mut document = Map::new();
    document.insert("streams".into(), Value::Object(streams));
    store.put(flow, key, Value::Object(document)).await?;
    tracing::debug!(flow, key, "checkpoint saved");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn file_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path().join("state"));
        assert_eq!(store.get("ns/flow", "file").await.unwrap(), None);
        store.put("ns/flow", "file", json!({"a": 1})).await.unwrap();
        store.put("ns/flow", "other", json!(2)).await.unwrap();
        let reopened = FileCheckpointStore::new(dir.path().join("state"));
        assert_eq!(
            reopened.get("ns/flow", "file").await.unwrap(),
            Some(json!({"a": 1}))
        );
        reopened.delete("ns/flow", "file").await.unwrap();
        assert_eq!(reopened.get("ns/flow", "file").await.unwrap(), None);
        assert_eq!(
            reopened.get("ns/flow", "other").await.unwrap(),
            Some(json!(2))
        );
    }

    #[tokio::test]
    async fn saver_writes_the_committed_positions_on_stop() {
        let store: Arc<dyn CheckpointStore> = Arc::new(MemoryCheckpointStore::default());
        let tracker = PositionTracker::new();
        let stop = CancellationToken::new();
        let saver = tokio::spawn(run_saver(
            Arc::clone(&store),
            "f".into(),
            "file".into(),
            tracker.clone(),
            SavePolicy {
                interval: Duration::from_secs(3600),
                on_every_commit: false,
            },
            stop.clone(),
        ));
        tracker.stream("in.jsonl").track(json!(42)).ack();
        tokio::task::yield_now().await;
        stop.cancel();
        saver.await.unwrap().unwrap();
        assert_eq!(
            store.get("f", "file").await.unwrap(),
            Some(json!({"streams": {"in.jsonl": 42}}))
        );
    }
}

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

use crate::retry::Backoff;
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
    /// Prepares the store for one run of `flow`, before anything is read: fails when it cannot
    /// be written or another run of the same flow holds it.
    async fn claim(&self, _flow: &str) -> Result<(), CheckpointError> {
        Ok(())
    }
}

/// One JSON file per flow in a directory, replaced atomically (write, fsync, rename, fsync dir).
pub struct FileCheckpointStore {
    dir: PathBuf,
    lock: Mutex<()>,
    /// Lock files of the claimed flows, held (flock) while the store lives.
    claims: std::sync::Mutex<Vec<std::fs::File>>,
}

impl FileCheckpointStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileCheckpointStore {
            dir: dir.into(),
            lock: Mutex::new(()),
            claims: std::sync::Mutex::new(Vec::new()),
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

    /// Creates the directory and takes an exclusive lock on `<file>.lock`: an unwritable
    /// state directory fails the run at start (it used to show only at exit), and a second run
    /// of the same flow is refused (two runs both read everything and raced on the file).
    async fn claim(&self, flow: &str) -> Result<(), CheckpointError> {
        let dir = self.dir.clone();
        let lock_path = self.file_of(flow).with_extension("json.lock");
        let flow = flow.to_string();
        let file = tokio::task::spawn_blocking(move || {
            let fail = |what: &str, e: std::io::Error| {
                CheckpointError(format!("{what} {}: {e}", lock_path.display()))
            };
            std::fs::create_dir_all(&dir).map_err(|e| fail("creating the directory of", e))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| fail("creating", e))?;
            match file.try_lock() {
                Ok(()) => Ok(file),
                Err(std::fs::TryLockError::WouldBlock) => Err(CheckpointError(format!(
                    "another run of flow {flow} is using {} (it holds the lock); stop it first",
                    lock_path.display()
                ))),
                Err(std::fs::TryLockError::Error(e)) => Err(fail("locking", e)),
            }
        })
        .await
        .map_err(|e| CheckpointError(e.to_string()))??;
        self.claims.lock().expect("claims lock").push(file);
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
    /// How long saves may keep failing (each retried with backoff and logged) before the flow
    /// fails: past it, a crash would replay an ever larger window.
    pub give_up_after: Duration,
}

/// How long checkpoint saves may keep failing before the flow stops.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(300);

/// Writes the tracker's committed positions to the store under `key` as
/// `{"streams": {name: position}}`, debounced by the policy, and once more when `stop` fires.
/// `on_saved` hears the streams of each saved checkpoint.
pub async fn run_saver(
    store: Arc<dyn CheckpointStore>,
    flow: String,
    key: String,
    tracker: PositionTracker,
    policy: SavePolicy,
    stop: CancellationToken,
    on_saved: impl Fn(&Map<String, Value>) + Send,
) -> Result<(), CheckpointError> {
    let mut saved_version = 0;
    let mut failing: Option<(std::time::Instant, Backoff)> = None;
    loop {
        if tracker.version() == saved_version {
            tokio::select! {
                _ = tracker.changed() => {}
                _ = stop.cancelled() => break,
            }
        }
        let wait = match &mut failing {
            Some((_, backoff)) => Some(backoff.next_delay()),
            None => (!policy.on_every_commit).then_some(policy.interval),
        };
        if let Some(wait) = wait {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => break,
            }
        }
        let version = tracker.version();
        if version == saved_version {
            continue;
        }
        match save(&*store, &flow, &key, &tracker).await {
            Ok(streams) => {
                on_saved(&streams);
                if failing.take().is_some() {
                    tracing::info!(flow, "checkpoint saved again");
                }
                saved_version = version;
            }
            Err(error) => {
                let (since, backoff) =
                    failing.get_or_insert_with(|| (std::time::Instant::now(), Backoff::standard()));
                tracing::error!(flow, %error, attempt = backoff.attempts() + 1,
                    "saving the checkpoint failed; retrying");
                if since.elapsed() >= policy.give_up_after {
                    return Err(CheckpointError(format!(
                        "saves kept failing for {:?}: {}",
                        policy.give_up_after, error.0
                    )));
                }
            }
        }
    }
    // The last save, also after failed ones: a few attempts.
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let mut attempts = 0;
    while tracker.version() != saved_version {
        attempts += 1;
        match save(&*store, &flow, &key, &tracker).await {
            Ok(streams) => {
                on_saved(&streams);
                break;
            }
            Err(error) if attempts >= 3 => return Err(error),
            Err(error) => {
                tracing::error!(flow, %error, attempt = attempts, "saving the checkpoint failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
    Ok(())
}

async fn save(
    store: &dyn CheckpointStore,
    flow: &str,
    key: &str,
    tracker: &PositionTracker,
) -> Result<Map<String, Value>, CheckpointError> {
    let streams: Map<String, Value> = tracker.committed().into_iter().collect();
    let mut document = Map::new();
    document.insert("streams".into(), Value::Object(streams.clone()));
    store.put(flow, key, Value::Object(document)).await?;
    tracing::debug!(flow, key, "checkpoint saved");
    Ok(streams)
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

    /// A store whose first `failures` puts fail (all of them with `u32::MAX`).
    #[derive(Default)]
    struct Flaky {
        failures: std::sync::Mutex<u32>,
        inner: MemoryCheckpointStore,
    }

    #[async_trait]
    impl CheckpointStore for Flaky {
        async fn get(&self, flow: &str, key: &str) -> Result<Option<Value>, CheckpointError> {
            self.inner.get(flow, key).await
        }
        async fn put(&self, flow: &str, key: &str, value: Value) -> Result<(), CheckpointError> {
            {
                let mut failures = self.failures.lock().unwrap();
                if *failures > 0 {
                    *failures = failures.saturating_sub(1);
                    return Err(CheckpointError("disk full".into()));
                }
            }
            self.inner.put(flow, key, value).await
        }
        async fn delete(&self, flow: &str, key: &str) -> Result<(), CheckpointError> {
            self.inner.delete(flow, key).await
        }
    }

    fn saver(
        store: Arc<Flaky>,
        tracker: &PositionTracker,
        give_up_after: Duration,
        stop: &CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), CheckpointError>> {
        tokio::spawn(run_saver(
            store,
            "f".into(),
            "file".into(),
            tracker.clone(),
            SavePolicy {
                interval: Duration::from_millis(1),
                on_every_commit: true,
                give_up_after,
            },
            stop.clone(),
            |_| {},
        ))
    }

    #[tokio::test]
    async fn a_failed_save_is_retried_and_the_saver_goes_on() {
        // U3: the saver stopped for good at the first store error.
        let store = Arc::new(Flaky {
            failures: std::sync::Mutex::new(2),
            ..Default::default()
        });
        let tracker = PositionTracker::new();
        let stop = CancellationToken::new();
        let running = saver(Arc::clone(&store), &tracker, DEFAULT_GIVE_UP_AFTER, &stop);
        tracker.stream("s").track(json!(1)).ack();
        // Two failures (200 ms and 400 ms of backoff), then saved while the flow runs.
        for _ in 0..100 {
            if store.get("f", "file").await.unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            store.get("f", "file").await.unwrap(),
            Some(json!({"streams": {"s": 1}}))
        );
        tracker.stream("s").track(json!(2)).ack();
        stop.cancel();
        running.await.unwrap().unwrap();
        assert_eq!(
            store.get("f", "file").await.unwrap(),
            Some(json!({"streams": {"s": 2}}))
        );
    }

    #[tokio::test]
    async fn saves_failing_past_the_bound_end_the_saver_with_an_error() {
        let store = Arc::new(Flaky {
            failures: std::sync::Mutex::new(u32::MAX),
            ..Default::default()
        });
        let tracker = PositionTracker::new();
        let stop = CancellationToken::new();
        let running = saver(store, &tracker, Duration::from_millis(300), &stop);
        tracker.stream("s").track(json!(1)).ack();
        let error = tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the saver gives up by itself")
            .unwrap()
            .unwrap_err();
        assert!(error.to_string().contains("saves kept failing"), "{error}");
        assert!(error.to_string().contains("disk full"), "{error}");
    }

    #[tokio::test]
    async fn a_second_run_of_a_flow_is_refused_and_an_unwritable_dir_fails_at_once() {
        // A13 and A9.
        let dir = tempfile::tempdir().unwrap();
        let first = FileCheckpointStore::new(dir.path().join("state"));
        first.claim("default/twin").await.unwrap();
        let second = FileCheckpointStore::new(dir.path().join("state"));
        let error = second.claim("default/twin").await.unwrap_err().to_string();
        assert!(
            error.contains("another run of flow default/twin"),
            "{error}"
        );
        second.claim("default/other").await.unwrap();
        drop(first);
        FileCheckpointStore::new(dir.path().join("state"))
            .claim("default/twin")
            .await
            .unwrap();
        // A state directory that cannot be created (its parent is a file).
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let error = FileCheckpointStore::new(dir.path().join("file/state"))
            .claim("default/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("creating the directory"), "{error}");
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
                give_up_after: DEFAULT_GIVE_UP_AFTER,
            },
            stop.clone(),
            |_| {},
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

//! The `--state` file: every workspace's objects (credentials included, so the file is
//! created readable by its owner only), written after each change to a temporary file
//! that is then renamed over the old one, so a crash leaves the old or the new state,
//! never a torn one.
//!
//! A change is answered once a file holding it is on disk, and one write holds every
//! change made before it (group commit): changes that come while a write is under way
//! wait for it, then the first of them writes the state as it is then, which holds the
//! others too. Under concurrent load the whole-state writes are far fewer than the
//! changes; each is one snapshot of the store, so writes stay in revision order.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SimulatorError;
use super::state::Workspace;

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u32,
    workspaces: BTreeMap<String, Workspace>,
}

/// Writes the state file.
#[derive(Debug)]
pub struct Persister {
    path: PathBuf,
    written: tokio::sync::Mutex<u64>,
}

/// Reads the workspaces saved in `path`; none if the file does not exist yet.
pub fn load(path: &Path) -> Result<BTreeMap<String, Workspace>, SimulatorError> {
    let fail = |message: String| SimulatorError::LoadState {
        path: path.to_owned(),
        message,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(err) => return Err(fail(err.to_string())),
    };
    let file: StateFile =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&bytes))
            .map_err(|err| fail(format!("{}: {}", err.path(), err.inner())))?;
    if file.format != FORMAT {
        return Err(fail(format!(
            "format {} is not the supported format {FORMAT}",
            file.format
        )));
    }
    Ok(file.workspaces)
}

/// The state file's bytes for `workspaces`.
pub fn encode(workspaces: &BTreeMap<String, Workspace>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        format: u32,
        workspaces: &'a BTreeMap<String, Workspace>,
    }
    serde_json::to_vec(&Borrowed {
        format: FORMAT,
        workspaces,
    })
    .expect("workspaces serialize")
}

impl Persister {
    /// Writes to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            written: tokio::sync::Mutex::new(0),
        }
    }

    /// Returns once the state at `revision` or a later one is on disk: unless a write
    /// already holds `revision`, takes a `snapshot` of the state as it is now (its
    /// revision and bytes, at least `revision`) and writes it.
    pub async fn save(
        &self,
        revision: u64,
        snapshot: impl FnOnce() -> (u64, Vec<u8>),
    ) -> std::io::Result<()> {
        let mut written = self.written.lock().await;
        if revision <= *written {
            return Ok(());
        }
        let (latest, bytes) = snapshot();
        debug_assert!(latest >= revision, "a snapshot older than its change");
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(std::io::Error::other)??;
        *written = latest;
        Ok(())
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saved_state_loads_back_and_old_revisions_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(load(&path).unwrap().is_empty());
        let persister = Persister::new(path.clone());
        let mut workspaces = BTreeMap::new();
        workspaces.insert("01".to_owned(), Workspace::default());
        persister
            .save(2, || (2, encode(&workspaces)))
            .await
            .unwrap();
        persister
            .save(1, || unreachable!("revision 1 is held by the write of 2"))
            .await
            .unwrap();
        assert!(load(&path).unwrap().contains_key("01"));
        assert!(!dir.path().join("state.json.tmp").exists());
    }

    #[tokio::test]
    async fn changes_made_during_a_write_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let persister = std::sync::Arc::new(Persister::new(path.clone()));
        let snapshots = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        // A write under way: the changes 1 to 10 are made meanwhile, each saved.
        let writing = persister.written.lock().await;
        let saves: Vec<_> = (1..=10)
            .map(|revision| {
                let (persister, snapshots) = (persister.clone(), snapshots.clone());
                tokio::spawn(async move {
                    persister
                        .save(revision, || {
                            snapshots.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let mut workspaces = BTreeMap::new();
                            workspaces.insert("at-10".to_owned(), Workspace::default());
                            (10, encode(&workspaces))
                        })
                        .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        drop(writing);
        for save in saves {
            save.await.unwrap().unwrap();
        }
        assert_eq!(
            snapshots.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one write for the ten changes"
        );
        assert!(load(&path).unwrap().contains_key("at-10"));
    }

    #[test]
    fn a_torn_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{\"format\": 1, \"workspaces\": {").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("state.json"), "{err}");
    }
}

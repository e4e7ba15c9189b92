//! The `--state` file: every workspace's objects (credentials included, so the file is
//! created readable by its owner only), written after each change to a temporary file
//! that is then renamed over the old one, so a crash leaves the old or the new state,
//! never a torn one. Writes happen in revision order; an older snapshot never
//! overwrites a newer one.

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

    /// Writes `bytes`, the state at `revision`, unless a later revision is written.
    pub async fn save(&self, revision: u64, bytes: Vec<u8>) -> std::io::Result<()> {
        let mut written = self.written.lock().await;
        if revision <= *written {
            return Ok(());
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(std::io::Error::other)??;
        *written = revision;
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
        persister.save(2, encode(&workspaces)).await.unwrap();
        persister.save(1, encode(&BTreeMap::new())).await.unwrap();
        assert!(load(&path).unwrap().contains_key("01"));
        assert!(!dir.path().join("state.json.tmp").exists());
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

//! The incremental state of `misp-pull` (docs/design.md#state-and-commit): a high-water mark per
//! source, scope and filter set. A run reads FILE and, only when it completed
//! with stdout still open, writes `FILE.next`; `--commit-state FILE` promotes
//! `FILE.next` to FILE once every later stage has succeeded, so a failure
//! further down repeats the window instead of skipping it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One mark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// The MISP field the mark is on (`publish_timestamp`, `timestamp`, or a
    /// feed manifest's `timestamp`).
    pub field: String,
    /// Epoch seconds: everything up to here has been pulled.
    pub mark: i64,
    /// When the run that set it ended (for people reading the file).
    pub updated: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateDoc {
    version: u32,
    marks: BTreeMap<String, Mark>,
}

/// A state file and the marks it holds.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
    doc: StateDoc,
}

/// `FILE.next`.
pub fn next_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".next");
    PathBuf::from(s)
}

impl State {
    /// Reads FILE (a missing file is an empty state: the first run is a full
    /// pull) and removes a stale `FILE.next` left by an earlier run that was
    /// never committed, so that only this run's outcome can be promoted.
    pub fn open(path: &Path) -> Result<Self> {
        let doc = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<StateDoc>(&bytes).map_err(|e| {
                Error::usage(format!(
                    "{}: not a misp-pull state file: {e}",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateDoc {
                version: 1,
                marks: BTreeMap::new(),
            },
            Err(e) => return Err(Error::io(path, e)),
        };
        crate::io::output::remove_if_exists(&next_path(path))?;
        Ok(State {
            path: path.to_path_buf(),
            doc,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Mark> {
        self.doc.marks.get(key)
    }

    pub fn set(&mut self, key: &str, mark: Mark) {
        self.doc.marks.insert(key.to_string(), mark);
    }

    /// Writes `FILE.next` atomically.
    pub fn write_next(&self) -> Result<PathBuf> {
        let next = next_path(&self.path);
        let mut bytes = serde_json::to_vec_pretty(&self.doc)
            .map_err(|e| Error::Other(format!("state: {e}")))?;
        bytes.push(b'\n');
        crate::io::output::write_atomic(&next, &bytes)?;
        Ok(next)
    }
}

/// `--commit-state FILE`: renames `FILE.next` to FILE (atomic on one file system).
pub fn commit(path: &Path) -> Result<()> {
    let next = next_path(path);
    if !next.exists() {
        return Err(Error::Other(format!(
            "{}: not found: no complete run is waiting to be committed",
            next.display()
        )));
    }
    std::fs::rename(&next, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_then_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pull.state");
        let mut s = State::open(&path).unwrap();
        assert!(s.get("k").is_none());
        s.set(
            "k",
            Mark {
                field: "publish_timestamp".into(),
                mark: 42,
                updated: "now".into(),
            },
        );
        s.write_next().unwrap();
        assert!(!path.exists());
        commit(&path).unwrap();
        assert_eq!(State::open(&path).unwrap().get("k").unwrap().mark, 42);
        assert!(commit(&path).is_err(), "nothing left to commit");
    }

    #[test]
    fn stale_next_is_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(next_path(&path), "{}").unwrap();
        State::open(&path).unwrap();
        assert!(!next_path(&path).exists());
    }
}

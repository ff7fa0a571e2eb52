//! The bundle's table of contents: `manifest.json` (what it lists, in what
//! format) and the rule for the file names a bundle may carry.

use serde::{Deserialize, Serialize};

/// The tool named in manifests and messages.
pub(super) const TOOL: &str = "misp-airgap";
/// The bundle format this version writes and reads.
pub const FORMAT: &str = "misp2ms-airgap/1";
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";

/// What `manifest.json` says; signed as the exact bytes written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub tool: String,
    pub version: String,
    pub sequence: u64,
    pub created: String,
    /// The signer's key id (see [`key_id`](crate::airgap::key_id)): lets a
    /// wrong key be named as such.
    pub key_id: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    /// Non-blank lines, counted after gunzip for a gzip file (as the tools read them).
    pub records: u64,
}

impl Manifest {
    pub(super) fn records(&self) -> u64 {
        self.files.iter().map(|f| f.records).sum()
    }
    pub(super) fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// A file name that may travel in a bundle: a plain name, no path, not hidden,
/// not one of the bundle's own entries.
pub(super) fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name == MANIFEST
        || name == SIGNATURE
        || name.len() > 255
    {
        return Err(format!(
            "{name:?} is not a plain file name that a bundle may carry"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_may_travel() {
        assert!(check_name("events.ndjson.gz").is_ok());
        for bad in [
            "",
            ".hidden",
            "../x",
            "a/b",
            "manifest.json",
            "manifest.sig",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}

//! The Infoblox MISP feed beside the repository, which two tests read when it is there.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the feed is looked for, relative to the repository.
const FEED: &str = "../shared/fixtures/infoblox-misp-feed";

/// The feed's directory (holding manifest.json), or None after a `skipped:` line
/// on stderr; libtest captures only the print macros, so the line shows. The
/// variable INFOBLOX_MISP_FEED names another place (relative to the repository).
pub fn infoblox() -> Option<PathBuf> {
    let place = std::env::var("INFOBLOX_MISP_FEED").unwrap_or_else(|_| FEED.to_string());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(&place);
    if dir.join("manifest.json").is_file() {
        return Some(dir);
    }
    let _ = writeln!(std::io::stderr(), "skipped: feed not present ({place})");
    None
}

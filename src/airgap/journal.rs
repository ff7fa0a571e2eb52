//! The unpacking side's journal: the sequence numbers of the bundles
//! accepted so far, which tell a replay (refused) and a gap (reported).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::airgap::manifest::{Manifest, TOOL};
use crate::cli::exit;
use crate::error::{Error, Result};
use crate::io::output::write_atomic;
use crate::time::{fmt_millis, Timestamp};

/// The unpacking side's record of the bundles it accepted: one line per bundle,
/// `SEQUENCE CREATED MANIFEST-SHA256 UNPACKED-AT`; `#` starts a comment.
pub struct Journal {
    path: PathBuf,
    text: String,
    seen: Vec<(u64, String, String)>,
}

/// How a bundle's sequence number relates to those in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// No journal was given (verify only).
    Unchecked,
    /// The journal is empty: the first bundle.
    First,
    /// One more than the latest seen.
    Next,
    /// Bundles between the latest seen and this one have not arrived.
    Gap { latest: u64 },
    /// Older than the latest seen, but never seen: a late bundle filling a gap.
    Late { latest: u64 },
}

impl Journal {
    pub fn read(path: &Path) -> Result<Journal> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Its directory must exist: find out now, not after unpacking.
                match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
                        return Err(Error::io(path, e));
                    }
                    _ => String::new(),
                }
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut seen = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let seq = words.next().and_then(|w| w.parse::<u64>().ok());
            let created = words.next().unwrap_or("").to_string();
            let digest = words.next().unwrap_or("").to_string();
            let seq = seq.ok_or_else(|| {
                Error::Other(format!(
                    "{}:{}: not a journal line (expected SEQUENCE CREATED MANIFEST-SHA256 UNPACKED-AT)",
                    path.display(),
                    i + 1
                ))
            })?;
            seen.push((seq, created, digest));
        }
        Ok(Journal {
            path: path.to_path_buf(),
            text,
            seen,
        })
    }

    /// Refuses a sequence number already seen (a replay); else says how it follows.
    pub(super) fn check(
        &self,
        manifest: &Manifest,
        digest: &str,
    ) -> std::result::Result<Continuity, String> {
        let seq = manifest.sequence;
        if let Some((_, created, old)) = self.seen.iter().find(|(s, _, _)| *s == seq) {
            let mut msg = format!(
                "replay: sequence {seq} (created {created}) was already unpacked, says {}",
                self.path.display()
            );
            if old != digest {
                msg.push_str(
                    "; this bundle's manifest differs from that one's: was the packing side's sequence reset?",
                );
            }
            return Err(msg);
        }
        Ok(match self.seen.iter().map(|(s, _, _)| *s).max() {
            None => Continuity::First,
            Some(latest) if Some(seq) == latest.checked_add(1) => Continuity::Next,
            Some(latest) if seq > latest => Continuity::Gap { latest },
            Some(latest) => Continuity::Late { latest },
        })
    }

    /// Appends the accepted bundle, rewriting the journal atomically.
    pub(super) fn record(
        &mut self,
        manifest: &Manifest,
        digest: &str,
        now: &Timestamp,
    ) -> Result<()> {
        if self.text.is_empty() {
            self.text = format!(
                "# {TOOL} journal: bundles unpacked here. SEQUENCE CREATED MANIFEST-SHA256 UNPACKED-AT\n"
            );
        } else if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.text.push_str(&format!(
            "{} {} {digest} {}\n",
            manifest.sequence,
            manifest.created,
            fmt_millis(now)
        ));
        write_atomic(&self.path, self.text.as_bytes())
    }
}

impl Continuity {
    /// The message for stderr, if any, and the exit status it implies.
    pub(super) fn report(self, seq: u64) -> (Option<String>, i32) {
        match self {
            Continuity::Gap { latest } => {
                let missing = if seq == latest + 2 {
                    format!("bundle {} missing", latest + 1)
                } else {
                    format!("bundles {} to {} missing", latest + 1, seq - 1)
                };
                (
                    Some(format!(
                        "warning: sequence {seq} follows {latest}: {missing}"
                    )),
                    exit::PARTIAL,
                )
            }
            Continuity::Late { latest } => (
                Some(format!(
                    "note: sequence {seq} arrives after {latest}: it fills a gap"
                )),
                exit::OK,
            ),
            _ => (None, exit::OK),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_messages() {
        assert_eq!(
            Continuity::Gap { latest: 5 }.report(7).0.unwrap(),
            "warning: sequence 7 follows 5: bundle 6 missing"
        );
        assert_eq!(
            Continuity::Gap { latest: 5 }.report(9).0.unwrap(),
            "warning: sequence 9 follows 5: bundles 6 to 8 missing"
        );
        assert_eq!(Continuity::Next.report(6), (None, exit::OK));
    }
}

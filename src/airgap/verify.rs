//! Verifying and unpacking (the Microsoft side): the signature before any
//! data is read, replay and gap against the journal, then every file's size,
//! SHA-256 and record count as it streams past; nothing lands in the target
//! directory before all of it has passed.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::airgap::journal::{Continuity, Journal};
use crate::airgap::manifest::{check_name, Manifest, FORMAT, MANIFEST, SIGNATURE, TOOL};
use crate::airgap::measure::{measure, MeasureError};
use crate::airgap::signing_keys::{key_id, read_public_key};
use crate::airgap::staging::Staging;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// A manifest larger than this is not ours (it lists files, not data).
const MAX_MANIFEST: u64 = 16 << 20;

pub struct Check<'a> {
    pub bundle: &'a Path,
    pub public_key: &'a Path,
    /// Required by unpack; optional for verify (replay and gap checks then skipped).
    pub journal: Option<&'a Path>,
    /// Unpack into this directory; `None` = verify only.
    pub into: Option<&'a Path>,
    pub now: Timestamp,
}

/// Verifies a bundle and, with `into`, unpacks it and records it in the journal.
/// Returns 0, or 3 for a good bundle after a gap in the sequence.
pub fn check(c: &Check) -> Result<i32> {
    let key = read_public_key(c.public_key)?;
    let mut journal = c.journal.map(Journal::read).transpose()?;
    let refuse = |msg: String| Error::Other(format!("{}: refused: {msg}", c.bundle.display()));

    let file = File::open(c.bundle).map_err(|e| Error::io(c.bundle, e))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(256 * 1024, file));
    let mut entries = archive
        .entries()
        .map_err(|e| refuse(format!("not a tar file: {e}")))?;
    let mut next = || match entries.next() {
        None => Ok(None),
        Some(Ok(e)) => Ok(Some(e)),
        Some(Err(e)) => Err(refuse(format!("the bundle is truncated or damaged: {e}"))),
    };

    // 1. The manifest and its signature, before anything else is read.
    let mut entry = next()?.ok_or_else(|| refuse("empty: no manifest.json".into()))?;
    let name = entry_name(&entry);
    if name != MANIFEST {
        return Err(refuse(format!(
            "the first entry is {name:?}, not {MANIFEST}: not a {TOOL} bundle"
        )));
    }
    let manifest_bytes = read_small(&mut entry, MAX_MANIFEST).map_err(refuse)?;
    drop(entry);
    let mut entry = next()?.ok_or_else(|| {
        refuse(format!(
            "unsigned: {SIGNATURE} is missing (the bundle ends after {MANIFEST})"
        ))
    })?;
    let name = entry_name(&entry);
    if name != SIGNATURE {
        return Err(refuse(format!(
            "unsigned: {SIGNATURE} is missing (found {name:?} where it belongs)"
        )));
    }
    let signature = read_small(&mut entry, 1024).map_err(refuse)?;
    let signature = Some(signature)
        .and_then(|b| hex::decode(String::from_utf8_lossy(&b).trim()).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or_else(|| {
            refuse(format!(
                "{SIGNATURE} is not an Ed25519 signature (128 hex digits)"
            ))
        })?;
    drop(entry);
    if key.verify_strict(&manifest_bytes, &signature).is_err() {
        return Err(refuse(bad_signature(&manifest_bytes, &key, c.public_key)));
    }
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| refuse(format!("{MANIFEST} is signed but unreadable: {e}")))?;
    if manifest.format != FORMAT {
        return Err(refuse(format!(
            "format {:?} is not {FORMAT:?}, the one this version reads",
            manifest.format
        )));
    }
    let mut listed = HashSet::new();
    for f in &manifest.files {
        check_name(&f.name).map_err(|m| refuse(format!("{MANIFEST}: {m}")))?;
        if !listed.insert(f.name.as_str()) {
            return Err(refuse(format!("{MANIFEST} lists {:?} twice", f.name)));
        }
    }
    let digest = hex::encode(Sha256::digest(&manifest_bytes));

    // 2. Replay and gap, before any data is read or written.
    let continuity = match &journal {
        Some(j) => j.check(&manifest, &digest).map_err(refuse)?,
        None => Continuity::Unchecked,
    };
    let staging = match c.into {
        Some(into) => Some(Staging::create(into, &manifest)?),
        None => None,
    };

    // 3. Every file, as it streams past: size, checksum, records.
    let mut seen = vec![false; manifest.files.len()];
    while let Some(mut entry) = next()? {
        let name = entry_name(&entry);
        let Some(i) = manifest.files.iter().position(|f| f.name == name) else {
            return Err(refuse(format!("{name:?} is not listed in {MANIFEST}")));
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(refuse(format!("{name:?} appears twice")));
        }
        let want = &manifest.files[i];
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(refuse(format!("{name}: not a regular file")));
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size != want.bytes {
            let why = if size < want.bytes {
                "the file is truncated"
            } else {
                "the file was altered"
            };
            return Err(refuse(format!(
                "{name}: {size} bytes in the bundle, {MANIFEST} lists {}: {why}",
                want.bytes
            )));
        }
        let measured = match &staging {
            Some(s) => s.receive(&name, &mut entry)?,
            None => measure(&mut entry, &mut io::sink()).map_err(|e| match e {
                MeasureError::Read(e) | MeasureError::Write(e) => {
                    refuse(format!("{name}: cannot be read: {e}"))
                }
            })?,
        };
        if measured.bytes < want.bytes {
            return Err(refuse(format!(
                "the bundle is truncated: {name} ends after {} of its {} bytes",
                measured.bytes, want.bytes
            )));
        }
        if measured.sha256 != want.sha256 {
            return Err(refuse(format!(
                "{name}: SHA-256 {} differs from {MANIFEST}'s {}: the file was altered",
                measured.sha256, want.sha256
            )));
        }
        match measured.records {
            None => {
                return Err(refuse(format!(
                    "{name}: starts like gzip but does not decompress"
                )))
            }
            Some(n) if n != want.records => {
                return Err(refuse(format!(
                    "{name}: {n} records, {MANIFEST} lists {}",
                    want.records
                )))
            }
            Some(_) => {}
        }
    }
    let missing: Vec<&str> = manifest
        .files
        .iter()
        .zip(&seen)
        .filter(|(_, seen)| !**seen)
        .map(|(f, _)| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(refuse(format!(
            "listed in {MANIFEST} but missing from the bundle: {}",
            missing.join(", ")
        )));
    }

    // 4. All good: move the files into place, then remember the sequence number.
    if let (Some(staging), Some(into)) = (staging, c.into) {
        staging.install(into, &manifest)?;
    }
    if let (Some(j), Some(_)) = (journal.as_mut(), c.into) {
        j.record(&manifest, &digest, &c.now)?;
    }
    let (warning, code) = continuity.report(manifest.sequence);
    if let Some(w) = warning {
        eprintln!("{TOOL}: {}: {w}", c.bundle.display());
    }
    let done = match c.into {
        Some(into) => format!("unpacked into {}", into.display()),
        None => "verified".to_string(),
    };
    eprintln!(
        "{TOOL}: {}: {done}: sequence {}, created {} by {} {}, key id {}, {}, {}, {}",
        c.bundle.display(),
        manifest.sequence,
        manifest.created,
        manifest.tool,
        manifest.version,
        manifest.key_id,
        count(manifest.files.len() as u64, "file", "files"),
        count(manifest.records(), "record", "records"),
        count(manifest.bytes(), "byte", "bytes")
    );
    Ok(code)
}

/// Names the likely cause of a failed signature: another key, or an alteration.
fn bad_signature(manifest: &[u8], key: &VerifyingKey, key_path: &Path) -> String {
    let claimed = serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|v| v.get("key_id")?.as_str().map(str::to_string));
    let ours = key_id(key);
    match claimed {
        Some(theirs) if theirs != ours => format!(
            "bad signature: {MANIFEST} names signing key id {theirs}, but {} is key id {ours}: \
             the wrong public key, or an altered manifest",
            key_path.display()
        ),
        _ => format!(
            "bad signature: {MANIFEST} was altered after signing, or {SIGNATURE} is damaged"
        ),
    }
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    String::from_utf8_lossy(&entry.path_bytes()).into_owned()
}

/// Reads a small entry whole: the reason when it is larger than `limit`, or
/// shorter than its header says (a truncated bundle).
fn read_small<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    limit: u64,
) -> std::result::Result<Vec<u8>, String> {
    let name = entry_name(entry);
    let size = entry.header().size().unwrap_or(u64::MAX);
    if size > limit {
        return Err(format!(
            "{name} is larger than {limit} bytes: not a {TOOL} bundle"
        ));
    }
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name} cannot be read: {e}"))?;
    if (bytes.len() as u64) < size {
        return Err(format!(
            "the bundle is truncated: {name} ends after {} of its {size} bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

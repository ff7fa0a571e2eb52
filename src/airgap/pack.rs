//! Packing (the MISP side): measure the files, write and sign the manifest,
//! then write the bundle, a tar file in a fixed order, atomically.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;

use crate::airgap::manifest::{check_name, FileEntry, Manifest, FORMAT, MANIFEST, SIGNATURE, TOOL};
use crate::airgap::measure::{measure, MeasureError, Tee};
use crate::airgap::signing_keys::{key_id, read_secret_key};
use crate::cli::exit;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::io::output::write_atomic;
use crate::time::{fmt_millis, Timestamp};

/// Where `pack` takes its sequence number from.
#[derive(Debug, Clone)]
pub enum Sequence {
    /// This number.
    Fixed(u64),
    /// One more than the number in this file (0 when it does not exist yet);
    /// the file is updated once the bundle is complete.
    File(PathBuf),
}

impl Sequence {
    /// `--seq N`, else `--seq-file FILE` (`pack` requires one of them).
    pub fn from_flags(seq: Option<u64>, seq_file: Option<PathBuf>) -> Result<Sequence> {
        match (seq, seq_file) {
            (Some(n), _) => Ok(Sequence::Fixed(n)),
            (None, Some(file)) => Ok(Sequence::File(file)),
            (None, None) => Err(Error::usage("pack needs --seq N or --seq-file FILE")),
        }
    }
}

/// What `pack` packs, with what, into which bundle.
pub struct Pack<'a> {
    pub secret_key: &'a Path,
    pub out: &'a Path,
    pub sequence: &'a Sequence,
    pub now: Timestamp,
    pub files: &'a [PathBuf],
}

fn read_seq_file(path: &Path) -> Result<u64> {
    match fs::read_to_string(path) {
        Ok(text) => text.trim().parse().map_err(|_| {
            Error::Other(format!(
                "{}: not a sequence number (expected one whole number)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Packs `files` into one signed bundle at `out` (written atomically). Returns exit 0.
pub fn pack(p: &Pack) -> Result<i32> {
    let key = read_secret_key(p.secret_key)?;
    let mut names = HashSet::new();
    let mut sources = Vec::new();
    for path in p.files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::usage(format!("{}: not a file name", path.display())))?;
        check_name(name).map_err(|m| Error::usage(format!("{}: {m}", path.display())))?;
        if !names.insert(name.to_string()) {
            return Err(Error::usage(format!(
                "{}: another FILE has the same name {name:?}; names must differ within a bundle",
                path.display()
            )));
        }
        sources.push((path, name.to_string()));
    }
    let sequence = match p.sequence {
        Sequence::Fixed(n) => *n,
        Sequence::File(f) => read_seq_file(f)?.checked_add(1).ok_or_else(|| {
            Error::Other(format!(
                "{}: the sequence number is at its maximum",
                f.display()
            ))
        })?,
    };

    let mut files = Vec::new();
    for (path, name) in &sources {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let m = measure(file, &mut io::sink()).map_err(|e| match e {
            MeasureError::Read(e) | MeasureError::Write(e) => Error::io(path, e),
        })?;
        let records = m.records.ok_or_else(|| {
            Error::Other(format!(
                "{}: starts like gzip but does not decompress",
                path.display()
            ))
        })?;
        files.push(FileEntry {
            name: name.clone(),
            sha256: m.sha256,
            bytes: m.bytes,
            records,
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        tool: TOOL.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        sequence,
        created: fmt_millis(&p.now),
        key_id: key_id(&key.verifying_key()),
        files,
    };
    let mut manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    manifest_bytes.push(b'\n');
    let signature = format!("{}\n", hex::encode(key.sign(&manifest_bytes).to_bytes()));

    write_bundle(
        p,
        &manifest,
        &manifest_bytes,
        signature.as_bytes(),
        &sources,
    )?;
    if let Sequence::File(f) = p.sequence {
        write_atomic(f, format!("{sequence}\n").as_bytes())?;
    }
    eprintln!(
        "{TOOL}: packed {}: sequence {sequence}, {}, {}, {}, key id {}",
        p.out.display(),
        count(manifest.files.len() as u64, "file", "files"),
        count(manifest.records(), "record", "records"),
        count(manifest.bytes(), "byte", "bytes"),
        manifest.key_id
    );
    Ok(exit::OK)
}

/// Writes the tar file beside `out` and renames it into place. Each data file
/// is hashed again as it is copied: one that changed since it was measured
/// fails the pack instead of producing a bundle that will be refused.
fn write_bundle(
    p: &Pack,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    signature: &[u8],
    sources: &[(&PathBuf, String)],
) -> Result<()> {
    let out = p.out;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(out, e))?;
    let mtime = p.now.timestamp().max(0) as u64;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(256 * 1024, tmp));
    let entry = |size: u64| {
        // Fixed owner, mode and time: the same inputs make the same bundle.
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h
    };
    let io_err = |e| Error::io(out, e);
    tar.append_data(
        &mut entry(manifest_bytes.len() as u64),
        MANIFEST,
        manifest_bytes,
    )
    .map_err(io_err)?;
    tar.append_data(&mut entry(signature.len() as u64), SIGNATURE, signature)
        .map_err(io_err)?;
    for ((path, name), listed) in sources.iter().zip(&manifest.files) {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut sink = io::sink();
        let mut tee = Tee::new(file.take(listed.bytes), &mut sink);
        tar.append_data(&mut entry(listed.bytes), name, &mut tee)
            .map_err(|e| match tee.failed.take() {
                Some(MeasureError::Read(e)) => Error::io(path, e),
                _ => Error::io(out, e),
            })?;
        if tee.bytes != listed.bytes || tee.sha256() != listed.sha256 {
            return Err(Error::Other(format!(
                "{}: changed while it was being packed; pack again once it is complete",
                path.display()
            )));
        }
    }
    let writer = tar.into_inner().map_err(io_err)?;
    let tmp = writer
        .into_inner()
        .map_err(|e| Error::io(out, e.into_error()))?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(out).map_err(|e| Error::io(out, e.error))?;
    Ok(())
}

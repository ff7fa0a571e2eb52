//! Air-gap transfer: signed, checksummed, sequenced bundles of NDJSON files,
//! packed on the connected MISP side and unpacked on the isolated Microsoft side.
//!
//! A bundle is one uncompressed tar file: `manifest.json` first, `manifest.sig`
//! second (the Ed25519 signature of manifest.json's exact bytes, in hex), then
//! the data files in manifest order. The fixed order lets a reader check the
//! signature before it reads a single data byte and check every file as it
//! streams past, in one pass. Nothing is written into the target directory
//! before everything has been checked.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::exit;
use crate::error::{Error, Result};
use crate::io::output::write_atomic;
use crate::time::{fmt_millis, Timestamp};

const TOOL: &str = "misp-airgap";
/// The bundle format this version writes and reads.
pub const FORMAT: &str = "misp2ms-airgap/1";
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";
/// First word of a key file; it tells a secret key from a public one.
const SECRET_TAG: &str = "misp-airgap-ed25519-secret";
const PUBLIC_TAG: &str = "misp-airgap-ed25519-public";
/// A manifest larger than this is not ours (it lists files, not data).
const MAX_MANIFEST: u64 = 16 << 20;

/// What `manifest.json` says; signed as the exact bytes written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub tool: String,
    pub version: String,
    pub sequence: u64,
    pub created: String,
    /// The signer's key id (see [`key_id`]): lets a wrong key be named as such.
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
    fn records(&self) -> u64 {
        self.files.iter().map(|f| f.records).sum()
    }
    fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

// ---------------------------------------------------------------- keys

/// A short, stable name for a public key: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Makes a key pair; refuses to overwrite either file. The secret file is created
/// with mode 0600. Prints the key id (never the secret) and returns exit 0.
pub fn keygen(secret: &Path, public: &Path) -> Result<i32> {
    for path in [secret, public] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(Error::usage(format!(
                "{}: already exists; refusing to overwrite a key file",
                path.display()
            )));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Error::Other(format!("no random numbers from the operating system: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    let verifying = key.verifying_key();
    write_new(
        secret,
        &format!("{SECRET_TAG} {}\n", hex::encode(key.to_bytes())),
        0o600,
    )?;
    let public_text = format!("{PUBLIC_TAG} {}\n", hex::encode(verifying.to_bytes()));
    if let Err(e) = write_new(public, &public_text, 0o644) {
        let _ = fs::remove_file(secret);
        return Err(e);
    }
    eprintln!(
        "{TOOL}: key id {}: secret key {} (mode 0600: keep it on the MISP side), public key {} (copy it to the Microsoft side)",
        key_id(&verifying),
        secret.display(),
        public.display()
    );
    Ok(exit::OK)
}

/// Creates a new file (never replacing one) with `mode` and writes `text`.
fn write_new(path: &Path, text: &str, mode: u32) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            Error::usage(format!(
                "{}: already exists; refusing to overwrite a key file",
                path.display()
            ))
        } else {
            Error::io(path, e)
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Reads the 32 key bytes of a key file `<tag> <64 hex digits>`. Errors name the
/// file and what is wrong, never its content.
fn read_key_file(path: &Path, secret: bool) -> Result<[u8; 32]> {
    let (want, other, flag, kind) = if secret {
        (SECRET_TAG, PUBLIC_TAG, "--secret-key", "secret")
    } else {
        (PUBLIC_TAG, SECRET_TAG, "--public-key", "public")
    };
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut words = text.split_whitespace();
    let tag = words.next().unwrap_or("");
    if tag == other {
        let other_kind = if secret { "public" } else { "secret" };
        return Err(Error::usage(format!(
            "{}: this is the {other_kind} key; {flag} needs the {kind} key",
            path.display()
        )));
    }
    let bytes = match (tag == want, words.next(), words.next()) {
        (true, Some(digits), None) => hex::decode(digits).ok(),
        _ => None,
    };
    bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
        Error::usage(format!(
            "{}: not a {TOOL} {kind} key file (expected one line: {want} <64 hex digits>)",
            path.display()
        ))
    })
}

pub fn read_secret_key(path: &Path) -> Result<SigningKey> {
    warn_if_readable_by_others(path);
    Ok(SigningKey::from_bytes(&read_key_file(path, true)?))
}

pub fn read_public_key(path: &Path) -> Result<VerifyingKey> {
    VerifyingKey::from_bytes(&read_key_file(path, false)?).map_err(|_| {
        Error::usage(format!(
            "{}: not a valid Ed25519 public key",
            path.display()
        ))
    })
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "{TOOL}: warning: secret key {} is readable by others (chmod 600 it)",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

// ---------------------------------------------------------------- measuring

/// SHA-256, size and record count of one file's bytes.
#[derive(Debug)]
pub struct Measured {
    pub sha256: String,
    pub bytes: u64,
    /// `None`: the bytes start like gzip but do not decompress.
    pub records: Option<u64>,
}

/// Why measuring stopped: reading the source, or writing the copy.
#[derive(Debug)]
pub enum MeasureError {
    Read(io::Error),
    Write(io::Error),
}

/// Passes bytes through, hashing, counting and copying each exactly once.
/// An error is kept, so that no later read can hide it.
struct Tee<'a, R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    copy: &'a mut dyn Write,
    failed: Option<MeasureError>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed.is_some() {
            return Err(io::Error::other("an earlier error"));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let again = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(MeasureError::Read(e));
                return Err(again);
            }
        };
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Err(e) = self.copy.write_all(&buf[..n]) {
            let again = io::Error::new(e.kind(), e.to_string());
            self.failed = Some(MeasureError::Write(e));
            return Err(again);
        }
        Ok(n)
    }
}

/// Reads `source` to its end, copying it into `copy`, and measures it. The
/// records of a gzip stream (by its magic bytes) are counted after gunzip.
pub fn measure(source: impl Read, copy: &mut dyn Write) -> Result<Measured, MeasureError> {
    let mut tee = Tee {
        inner: source,
        hasher: Sha256::new(),
        bytes: 0,
        copy,
        failed: None,
    };
    let records = {
        // The first two bytes, however the source hands them out, say gzip or not.
        let mut head = [0u8; 2];
        let mut got = 0;
        let mut peeked = Ok(());
        while got < 2 {
            match tee.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    peeked = Err(e);
                    break;
                }
            }
        }
        let mut buffered = BufReader::with_capacity(256 * 1024, (&head[..got]).chain(&mut tee));
        let counted = match peeked {
            Ok(()) if head[..got] == [0x1f, 0x8b] => {
                count_records(MultiGzDecoder::new(&mut buffered))
            }
            Ok(()) => count_records(&mut buffered),
            Err(e) => Err(e),
        };
        // The rest (after a gzip error, or trailing bytes) still has to be hashed.
        let drained = io::copy(&mut buffered, &mut io::sink());
        match (counted, drained) {
            (Ok(n), Ok(_)) => Some(n),
            _ => None,
        }
    };
    if let Some(e) = tee.failed {
        return Err(e);
    }
    Ok(Measured {
        sha256: hex::encode(tee.hasher.finalize()),
        bytes: tee.bytes,
        records,
    })
}

/// Counts non-blank lines, the records the tools read (they skip blank lines).
fn count_records(mut reader: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut records, mut in_record) = (0u64, false);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                records += u64::from(in_record);
                in_record = false;
            } else if !b.is_ascii_whitespace() {
                in_record = true;
            }
        }
    }
    Ok(records + u64::from(in_record))
}

/// A file name that may travel in a bundle: a plain name, no path, not hidden,
/// not one of the bundle's own entries.
fn check_name(name: &str) -> std::result::Result<(), String> {
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

// ---------------------------------------------------------------- pack

/// Where `pack` takes its sequence number from.
#[derive(Debug, Clone)]
pub enum Sequence {
    /// This number.
    Fixed(u64),
    /// One more than the number in this file (0 when it does not exist yet);
    /// the file is updated once the bundle is complete.
    File(PathBuf),
}

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
        "{TOOL}: packed {}: sequence {sequence}, {} files, {} records, {} bytes, key id {}",
        p.out.display(),
        manifest.files.len(),
        manifest.records(),
        manifest.bytes(),
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
        let mut tee = Tee {
            inner: file.take(listed.bytes),
            hasher: Sha256::new(),
            bytes: 0,
            copy: &mut io::sink(),
            failed: None,
        };
        tar.append_data(&mut entry(listed.bytes), name, &mut tee)
            .map_err(|e| match tee.failed.take() {
                Some(MeasureError::Read(e)) => Error::io(path, e),
                _ => Error::io(out, e),
            })?;
        if tee.bytes != listed.bytes || hex::encode(tee.hasher.finalize()) != listed.sha256 {
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

// ---------------------------------------------------------------- journal

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
    fn check(&self, manifest: &Manifest, digest: &str) -> std::result::Result<Continuity, String> {
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
    fn record(&mut self, manifest: &Manifest, digest: &str, now: &Timestamp) -> Result<()> {
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
    fn report(self, seq: u64) -> (Option<String>, i32) {
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

// ---------------------------------------------------------------- verify and unpack

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
        "{TOOL}: {}: {done}: sequence {}, created {} by {} {}, key id {}, {} files, {} records, {} bytes",
        c.bundle.display(),
        manifest.sequence,
        manifest.created,
        manifest.tool,
        manifest.version,
        manifest.key_id,
        manifest.files.len(),
        manifest.records(),
        manifest.bytes()
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

/// A directory beside the target where files land while they are checked;
/// removed on drop unless installed.
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn create(into: &Path, manifest: &Manifest) -> Result<Staging> {
        let base = into.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::usage(format!("--into {}: not a directory name", into.display()))
        })?;
        if into.exists() && !into.is_dir() {
            return Err(Error::usage(format!(
                "--into {}: exists and is not a directory",
                into.display()
            )));
        }
        check_collisions(into, manifest)?;
        let parent = match into.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = parent.join(format!(".{base}.unpacking-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging { dir })
    }

    /// Copies one entry into the staging directory, measuring it on the way.
    fn receive(&self, name: &str, entry: &mut impl Read) -> Result<Measured> {
        let path = self.dir.join(name);
        let file = File::create_new(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer = BufWriter::with_capacity(256 * 1024, file);
        let measured = measure(entry, &mut writer).map_err(|e| match e {
            MeasureError::Read(e) => {
                Error::Other(format!("{name}: cannot be read from the bundle: {e}"))
            }
            MeasureError::Write(e) => Error::io(&path, e),
        })?;
        let file = writer
            .into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        Ok(measured)
    }

    /// Renames the staging directory to `into` when that does not exist (one
    /// atomic step), else moves each file into it.
    fn install(self, into: &Path, manifest: &Manifest) -> Result<()> {
        if !into.exists() {
            fs::rename(&self.dir, into).map_err(|e| Error::io(into, e))?;
            return Ok(());
        }
        check_collisions(into, manifest)?;
        for f in &manifest.files {
            let target = into.join(&f.name);
            fs::rename(self.dir.join(&f.name), &target).map_err(|e| Error::io(&target, e))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Unpacking never replaces a file: it may hold data not yet pushed.
fn check_collisions(into: &Path, manifest: &Manifest) -> Result<()> {
    for f in &manifest.files {
        let target = into.join(&f.name);
        if fs::symlink_metadata(&target).is_ok() {
            return Err(Error::usage(format!(
                "{}: already exists; unpack into a new or empty directory (nothing was unpacked)",
                target.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_non_blank_lines() {
        assert_eq!(count_records(&b""[..]).unwrap(), 0);
        assert_eq!(count_records(&b"a\n\n  \nb"[..]).unwrap(), 2);
        assert_eq!(count_records(&b"a\r\nb\r\n\r\n"[..]).unwrap(), 2);
    }

    #[test]
    fn measures_gzip_after_gunzip_and_hashes_raw_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        let raw = gz.finish().unwrap();
        let mut copy = Vec::new();
        let m = measure(&raw[..], &mut copy).unwrap();
        assert_eq!(copy, raw);
        assert_eq!(m.bytes, raw.len() as u64);
        assert_eq!(m.records, Some(2));
        assert_eq!(m.sha256, hex::encode(Sha256::digest(&raw)));
        // Broken gzip: still hashed whole, but no record count.
        let broken = &raw[..raw.len() - 6];
        let m = measure(broken, &mut io::sink()).unwrap();
        assert_eq!((m.bytes, m.records), (broken.len() as u64, None));
    }

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

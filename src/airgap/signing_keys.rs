//! The Ed25519 signing keys of bundles: making a key pair, reading the
//! secret (signing) key and the public (verifying) key from their files,
//! and the short id that names a public key in manifests and messages.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::airgap::manifest::TOOL;
use crate::cli::exit;
use crate::error::{Error, Result};

/// First word of a key file; it tells a secret key from a public one.
const SECRET_TAG: &str = "misp-airgap-ed25519-secret";
const PUBLIC_TAG: &str = "misp-airgap-ed25519-public";

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

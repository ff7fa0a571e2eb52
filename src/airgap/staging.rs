//! Unpacking's staging directory: files land beside the target while they are
//! checked, and move into place only once the whole bundle has passed.

use std::fs::{self, File};
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use crate::airgap::manifest::Manifest;
use crate::airgap::measure::{measure, MeasureError, Measured};
use crate::error::{Error, Result};

/// A directory beside the target where files land while they are checked;
/// removed on drop unless installed.
pub(super) struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub(super) fn create(into: &Path, manifest: &Manifest) -> Result<Staging> {
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
    pub(super) fn receive(&self, name: &str, entry: &mut impl Read) -> Result<Measured> {
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
    pub(super) fn install(self, into: &Path, manifest: &Manifest) -> Result<()> {
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

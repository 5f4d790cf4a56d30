//! Crash-safe file creation inside the store: key folders that never lead
//! outside it, and files that appear whole or not at all.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::CassetteError;

/// Temporary files start with this, so no reader mistakes one for a cassette.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";
/// ... and end with this.
pub(crate) const TEMP_SUFFIX: &str = ".partial";

/// Whether `name` is one of our temporary files.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// Creates the folder of an already validated `key` under `root`, one
/// segment at a time, and returns it.
///
/// Each segment must end up a real folder: an existing file or symbolic link
/// in its place is an error, so a write never follows a link out of the
/// store.
pub(crate) fn ensure_key_dir(root: &Path, key: &str) -> Result<PathBuf, CassetteError> {
    fs::create_dir_all(root).map_err(|e| CassetteError::io(root, "create the store folder", e))?;
    let mut dir = root.to_path_buf();
    for segment in key.split('/') {
        dir.push(segment);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let meta = fs::symlink_metadata(&dir)
                    .map_err(|e| CassetteError::io(&dir, "inspect the key folder", e))?;
                if !meta.is_dir() {
                    let what = if meta.file_type().is_symlink() {
                        "a symbolic link; refusing to write through it"
                    } else {
                        "a file, not a folder"
                    };
                    return Err(CassetteError::io(
                        &dir,
                        "use the key folder",
                        io::Error::new(io::ErrorKind::AlreadyExists, what),
                    ));
                }
            }
            Err(e) => return Err(CassetteError::io(&dir, "create the key folder", e)),
        }
    }
    Ok(dir)
}

/// Writes `bytes` to `dir/name` atomically: into a temporary file in `dir`,
/// flushed to disk when `sync`, then renamed over `name`. An existing file
/// with the same bytes is left alone and counts as success. The temporary
/// file never outlives the call, whether it succeeds or fails.
pub(crate) fn write_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sync: bool,
) -> Result<PathBuf, CassetteError> {
    let path = dir.join(name);
    if holds(&path, bytes) {
        return Ok(path);
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Cassettes are meant to be shared: readable by all (the umask still applies).
        builder.permissions(fs::Permissions::from_mode(0o644));
    }
    let mut temp = builder
        .tempfile_in(dir)
        .map_err(|e| CassetteError::io(dir, "create a temporary file in", e))?;
    temp.write_all(bytes)
        .map_err(|e| CassetteError::io(temp.path(), "write", e))?;
    if sync {
        temp.as_file()
            .sync_all()
            .map_err(|e| CassetteError::io(temp.path(), "flush to disk", e))?;
    }
    match temp.persist(&path) {
        Ok(_) => Ok(path),
        // Another writer may have put the same bytes there first (on Windows a
        // rename over an open file fails): that is success too. Dropping the
        // error deletes the temporary file.
        Err(_) if holds(&path, bytes) => Ok(path),
        Err(e) => Err(CassetteError::io(
            &path,
            "rename a temporary file onto",
            e.error,
        )),
    }
}

/// Whether the file at `path` exists and holds exactly `bytes`.
fn holds(path: &Path, bytes: &[u8]) -> bool {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == bytes.len() as u64 => {
            fs::read(path).is_ok_and(|found| found == bytes)
        }
        _ => false,
    }
}

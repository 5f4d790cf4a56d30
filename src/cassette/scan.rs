//! Walking a store's folder tree.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::CassetteError;
use super::key::is_valid_segment;

/// One file found under the store's folder.
#[derive(Debug)]
pub(crate) struct FoundFile {
    /// The file.
    pub path: PathBuf,
    /// Its name (lossily converted to UTF-8).
    pub name: String,
    /// Where it lies, relative to the store's folder, `/`-separated; empty
    /// for the store's folder itself.
    pub folder: String,
    /// Whether `folder` is a valid key.
    pub folder_is_key: bool,
    /// `None` for a regular file; else what the entry is instead (a
    /// symbolic link, FIFO, socket or device). Such entries are listed so
    /// they can be reported, and are never opened or followed.
    pub not_regular: Option<&'static str>,
}

/// How [`irregular_kind`] names a symbolic link.
pub(crate) const SYMLINK: &str = "a symbolic link";

/// What a non-regular, non-folder entry is, in words; `None` for a regular file.
pub(crate) fn irregular_kind(file_type: fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        return None;
    }
    if file_type.is_symlink() {
        return Some(SYMLINK);
    }
    if file_type.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if file_type.is_socket() {
            return Some("a socket");
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return Some("a device");
        }
    }
    Some("not a regular file")
}

/// Every file under `root`, folders in name order. Symbolic links are
/// never followed (so the walk never loops or leaves the store): they are
/// listed, like FIFOs, sockets and devices, with
/// [`not_regular`](FoundFile::not_regular) saying what they are. Errors reading a folder below `root`
/// are collected and the walk goes on; failing to read `root` itself is
/// returned as the error.
pub(crate) fn scan(root: &Path) -> Result<(Vec<FoundFile>, Vec<CassetteError>), CassetteError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    // (folder path, relative name, whether every segment so far is valid)
    let mut stack = vec![(root.to_path_buf(), String::new(), true)];
    while let Some((dir, folder, folder_is_key)) = stack.pop() {
        let entries = match read_sorted(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => return Err(e),
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut subfolders = Vec::new();
        for (path, name) in entries {
            let Ok(file_type) = fs::symlink_metadata(&path).map(|m| m.file_type()) else {
                continue;
            };
            let cassette_named = name
                .strip_suffix(".json")
                .is_some_and(super::format::is_full_hash);
            // tracedeck's own bookkeeping (the usage ledger) is no part of the store.
            if file_type.is_dir() && folder.is_empty() && name == super::ledger::LEDGER_ROOT {
                continue;
            }
            if file_type.is_dir() && !cassette_named {
                let valid = folder_is_key && is_valid_segment(&name);
                let child = if folder.is_empty() {
                    name
                } else {
                    format!("{folder}/{name}")
                };
                subfolders.push((path, child, valid));
            } else {
                files.push(FoundFile {
                    path,
                    name,
                    folder: folder.clone(),
                    folder_is_key: folder_is_key && !folder.is_empty(),
                    not_regular: irregular_kind(file_type),
                });
            }
        }
        // Reversed so folders pop off the stack in name order.
        stack.extend(subfolders.into_iter().rev());
    }
    Ok((files, errors))
}

/// The entries of `dir` with their names, sorted by name.
pub(crate) fn read_sorted(dir: &Path) -> Result<Vec<(PathBuf, String)>, CassetteError> {
    let read_error = |e| CassetteError::io(dir, "read the folder", e);
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        entries.push((entry.path(), name));
    }
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(entries)
}

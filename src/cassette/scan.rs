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
        let entries = match read_sorted_typed(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => return Err(e),
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut subfolders = Vec::new();
        for (path, name, file_type) in entries {
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

/// The entries of `dir` with their names and types, sorted by name; an
/// entry whose type cannot be told (it vanished meanwhile) is left out.
///
/// The type comes from the folder listing itself where the platform gives
/// it (Linux's `d_type`, Windows' find data), so no entry is `stat`ed:
/// listing a folder of 50,000 cassettes reads the folder, not 50,000
/// inodes. Like `symlink_metadata`, it never follows a link.
pub(crate) fn read_sorted_typed(
    dir: &Path,
) -> Result<Vec<(PathBuf, String, fs::FileType)>, CassetteError> {
    let read_error = |e| CassetteError::io(dir, "read the folder", e);
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        entries.push((entry.path(), name, file_type));
    }
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(entries)
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

/// A file whose name is `<hash>.json` with a hash starting with the prefix
/// given to [`find_by_prefix`].
#[derive(Debug)]
pub(crate) struct PrefixMatch {
    /// The entry (perhaps not a regular file: the reader says so).
    pub path: PathBuf,
    /// The key its folder stands for.
    pub folder: String,
}

/// Every entry named `<hash>.json` (a full sha256, lower case) whose hash
/// starts with `prefix`, in the key folders under `root`, in path order.
///
/// Only names are looked at: folders are listed, no file is `stat`ed,
/// opened or read, and a name is turned into a path only when it matches.
/// Folders that are not valid key segments (and so hold no cassette a key
/// could name) are not entered, nor is the usage ledger's folder; links are
/// never followed. Folders below `root` that cannot be read are skipped;
/// failing to read `root` itself is the error.
pub(crate) fn find_by_prefix(root: &Path, prefix: &str) -> Result<Vec<PrefixMatch>, CassetteError> {
    let mut found = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, folder)) = stack.pop() {
        let read_error = |e| CassetteError::io(&dir, "read the folder", e);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if folder.is_empty() => return Err(read_error(e)),
            Err(_) => continue,
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let cassette_named = name
                .strip_suffix(".json")
                .is_some_and(super::format::is_full_hash);
            if cassette_named {
                if !folder.is_empty() && name.starts_with(prefix) {
                    found.push(PrefixMatch {
                        path: entry.path(),
                        folder: folder.clone(),
                    });
                }
                continue;
            }
            if !is_valid_segment(name)
                || (folder.is_empty() && name == super::ledger::LEDGER_ROOT)
                || !entry.file_type().is_ok_and(|t| t.is_dir())
            {
                continue;
            }
            let child = if folder.is_empty() {
                name.to_owned()
            } else {
                format!("{folder}/{name}")
            };
            stack.push((entry.path(), child));
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Walks the folders under `root` as [`scan`] does (links never followed,
/// the usage ledger's folder skipped, a folder named like a cassette not
/// entered), in no particular order, handing every entry that is not a
/// folder walked into to `visit` with the relative folder it lies in and
/// whether that folder is a valid key. Nothing is `stat`ed and no path is
/// built unless `visit` asks: the cheap walk behind [`Store::keys`] and the
/// stale-file cleanup. Errors reading a folder below `root` are returned
/// after the walk; failing to read `root` itself is the error.
///
/// [`Store::keys`]: super::Store::keys
pub(crate) fn walk(
    root: &Path,
    mut visit: impl FnMut(&str, bool, &fs::DirEntry, &str),
) -> Result<Vec<CassetteError>, CassetteError> {
    let mut errors = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new(), true)];
    while let Some((dir, folder, folder_is_key)) = stack.pop() {
        let read_error = |e| CassetteError::io(&dir, "read the folder", e);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if folder.is_empty() => return Err(read_error(e)),
            Err(e) => {
                errors.push(read_error(e));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    errors.push(read_error(e));
                    break;
                }
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let cassette_named = name
                .strip_suffix(".json")
                .is_some_and(super::format::is_full_hash);
            if is_dir && folder.is_empty() && name == super::ledger::LEDGER_ROOT {
                continue;
            }
            if is_dir && !cassette_named {
                let valid = folder_is_key && is_valid_segment(&name);
                let child = if folder.is_empty() {
                    name.into_owned()
                } else {
                    format!("{folder}/{name}")
                };
                stack.push((entry.path(), child, valid));
            } else {
                visit(&folder, folder_is_key && !folder.is_empty(), &entry, &name);
            }
        }
    }
    Ok(errors)
}

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
}

/// Every file under `root`, folders in name order. Symbolic links to
/// folders are not followed (so the walk never loops or leaves the store);
/// symbolic links to files are listed. Errors reading a folder below `root`
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
            if file_type.is_dir() {
                let valid = folder_is_key && is_valid_segment(&name);
                let child = if folder.is_empty() {
                    name
                } else {
                    format!("{folder}/{name}")
                };
                subfolders.push((path, child, valid));
            } else if file_type.is_file() || path.is_file() {
                files.push(FoundFile {
                    path,
                    name,
                    folder: folder.clone(),
                    folder_is_key: folder_is_key && !folder.is_empty(),
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

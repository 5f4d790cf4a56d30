//! Listing a key's cassettes from their folder, without decoding them.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::error::CassetteError;
use super::format::{FORMAT, is_full_hash};
use super::index::Facts;
use super::scan::{irregular_kind, read_sorted_typed};
use super::store::{Store, read_cassette};

/// One cassette file of a key, as [`Store::list`] finds it: from its name,
/// its metadata and the first bytes of the file, never decoded or re-hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCassette {
    /// Its hash, as its name says (not checked against its bytes).
    pub hash: String,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was recorded, if the cassette says (see [`Store::with_recorded_at`]).
    pub recorded_at: Option<SystemTime>,
    /// The file's modification time, where the file system keeps one: as
    /// the store's lookup index noted it when the store wrote the file (or
    /// when [`Store::rebuild_index`] last ran), for a cassette the index
    /// knows; else read from the file.
    pub modified: Option<SystemTime>,
}

impl ListedCassette {
    /// `recorded_at` if the cassette has one, else the file's modification
    /// time: as [`StoredTrace::recorded_time`](super::StoredTrace::recorded_time).
    pub fn recorded_time(&self) -> Option<SystemTime> {
        self.recorded_at.or(self.modified)
    }
}

/// The cassette files of one key, as [`Store::list`] finds them.
#[derive(Debug, Clone, Default)]
pub struct KeyListing {
    /// Every file that looks like a cassette, in file-name order.
    pub files: Vec<ListedCassette>,
    /// Every `*.json` file that does not, one error naming each, in
    /// file-name order.
    pub errors: Vec<CassetteError>,
}

/// How much of a file [`Store::list`] reads: enough for the format line and
/// a `recorded_at` line of canonical JSON.
const HEAD_BYTES: usize = 256;

/// Below this many files to read, a key's folder is listed on the calling thread.
const PARALLEL_FROM: usize = 512;

impl Store {
    /// The cassette files of `key` with their sizes and times, without
    /// decoding them: for listings of big stores (`tracedeck ls`).
    ///
    /// A regular file named `<sha256>.json` that the store's lookup index
    /// knows (each [`write`](Store::write) notes the cassette's size,
    /// `recorded_at` and modification time in its key's log, and
    /// [`rebuild_index`](Store::rebuild_index) notes every cassette's) is
    /// listed from the folder's listing and that log alone: no file is
    /// opened or `stat`ed. Any other, if no larger than
    /// [`max_file_bytes`](Store::max_file_bytes), is opened once and only
    /// its first 256 bytes are read: canonical JSON puts the format first and
    /// `recorded_at` second. A file whose first bytes are not a cassette's
    /// (another format, not JSON, empty, misnamed, not a regular file) is
    /// loaded as [`load`](Store::load) would, and listed as a cassette if
    /// that succeeds, else in [`KeyListing::errors`] with the loader's
    /// error. Nothing else is checked: a file cut short after its first
    /// bytes, or whose bytes no longer hash to its name, is listed;
    /// [`verify`](Store::verify) and [`traces`](Store::traces) find those.
    /// Many files to read are read on two threads. Subfolders (nested keys) are not
    /// included.
    ///
    /// # Errors
    /// As [`traces`](Store::traces): an invalid key, a key folder that is a
    /// link or not a folder, or one that cannot be read. A key with no
    /// folder has no files.
    pub fn list(&self, key: &str) -> Result<KeyListing, CassetteError> {
        let Some(dir) = self.checked_key_dir(key)? else {
            return Ok(KeyListing::default());
        };
        let entries = match read_sorted_typed(&dir) {
            Ok(entries) => entries,
            Err(CassetteError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(KeyListing::default());
            }
            Err(e) => return Err(e),
        };
        let entries: Vec<(PathBuf, String, fs::FileType)> = entries
            .into_iter()
            .filter(|(_, name, file_type)| {
                let cassette_named = name.strip_suffix(".json").is_some_and(is_full_hash);
                // A folder is a nested key, unless it is named like a cassette.
                name.ends_with(".json") && (cassette_named || !file_type.is_dir())
            })
            .collect();
        let max_bytes = self.max_file_bytes();
        // What the index's log of this key knows of each cassette, by hash.
        let known = super::index::read_log(self.dir(), key);
        let list_one = |(path, name, file_type): &(PathBuf, String, fs::FileType)| {
            list_file(path, name, *file_type, key, max_bytes, &known)
        };
        // Only files the log does not know are read: worth a second thread
        // only when there are many.
        let to_read = entries
            .iter()
            .filter(|(_, name, file_type)| {
                let hash = name.strip_suffix(".json").unwrap_or(name);
                !(file_type.is_file() && known.contains_key(hash))
            })
            .count();
        let results: Vec<Result<ListedCassette, CassetteError>> = if to_read < PARALLEL_FROM {
            entries.iter().map(list_one).collect()
        } else {
            let half = entries.len().div_ceil(2);
            std::thread::scope(|scope| {
                let (first, second) = entries.split_at(half);
                let other = scope.spawn(|| second.iter().map(list_one).collect::<Vec<_>>());
                let mut results: Vec<_> = first.iter().map(list_one).collect();
                // A panic in the other half is a bug: pass it on.
                results.extend(
                    other
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e)),
                );
                results
            })
        };
        let mut listing = KeyListing::default();
        for result in results {
            match result {
                Ok(file) => listing.files.push(file),
                Err(e) => listing.errors.push(e),
            }
        }
        Ok(listing)
    }
}

/// One entry of [`Store::list`]; `known` is what the index's log says of
/// the key's cassettes (size and `recorded_at`, by hash).
fn list_file(
    path: &Path,
    name: &str,
    file_type: fs::FileType,
    key: &str,
    max_bytes: u64,
    known: &HashMap<String, Facts>,
) -> Result<ListedCassette, CassetteError> {
    let hash = name.strip_suffix(".json").filter(|h| is_full_hash(h));
    if let (Some(hash), None) = (hash, irregular_kind(file_type)) {
        if let Some(facts) = known.get(hash).filter(|f| f.bytes <= max_bytes) {
            // A cassette's bytes are its name's, so what the log says of
            // them holds for every file of that name: nothing to read, not
            // even a `stat` (the listing said it is a regular file).
            return Ok(ListedCassette {
                hash: hash.to_owned(),
                path: path.to_owned(),
                bytes: facts.bytes,
                recorded_at: facts.recorded_at,
                modified: facts.modified,
            });
        }
        if let Some(listed) = read_head(path, hash, max_bytes) {
            return Ok(listed);
        }
    }
    // Anything unusual: the loader says exactly what it is.
    let stored = read_cassette(path, Some(key), max_bytes)?;
    Ok(ListedCassette {
        bytes: fs::metadata(path).map(|m| m.len()).unwrap_or_default(),
        hash: stored.hash,
        path: stored.path,
        recorded_at: stored.recorded_at,
        modified: stored.modified,
    })
}

/// The size and `recorded_at` of the cassette at `path`, from its first
/// bytes; `None` when they are not a canonical cassette's.
pub(super) fn head_facts(path: &Path, max_bytes: u64) -> Option<(u64, Option<SystemTime>)> {
    read_head(path, "", max_bytes).map(|listed| (listed.bytes, listed.recorded_at))
}

/// The listing of the regular file at `path` from its metadata and first
/// bytes; `None` when they are not a cassette's (the caller then loads it).
fn read_head(path: &Path, hash: &str, max_bytes: u64) -> Option<ListedCassette> {
    let file = fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > max_bytes {
        return None;
    }
    let mut head = Vec::with_capacity(HEAD_BYTES);
    file.take(HEAD_BYTES as u64).read_to_end(&mut head).ok()?;
    let recorded_at = recorded_at_in_head(&head)?;
    Some(ListedCassette {
        hash: hash.to_owned(),
        path: path.to_owned(),
        bytes: meta.len(),
        recorded_at,
        modified: meta.modified().ok(),
    })
}

/// In the first bytes of a canonical cassette: `Some(recorded_at)` (itself
/// perhaps `None`) when they open as one, `None` when they do not.
fn recorded_at_in_head(head: &[u8]) -> Option<Option<SystemTime>> {
    let opening = format!("{{\n  \"format\": \"{FORMAT}\",\n  \"");
    let rest = head.strip_prefix(opening.as_bytes())?;
    if rest.starts_with(b"trace\": {") {
        return Some(None);
    }
    let time = rest.strip_prefix(b"recorded_at\": \"")?;
    let end = time.iter().position(|&b| b == b'"')?;
    if !time[end..].starts_with(b"\",\n  \"trace\": {") {
        return None;
    }
    let text = std::str::from_utf8(&time[..end]).ok()?;
    humantime::parse_rfc3339(text).ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_of_a_canonical_cassette_gives_its_recorded_at() {
        let plain = b"{\n  \"format\": \"tracedeck/cassette\",\n  \"trace\": {\n    \"spans\"";
        assert_eq!(recorded_at_in_head(plain), Some(None));
        let stamped = b"{\n  \"format\": \"tracedeck/cassette\",\n  \"recorded_at\": \"2026-11-29T19:41:13.123456Z\",\n  \"trace\": {\n";
        let at = humantime::parse_rfc3339("2026-11-29T19:41:13.123456Z").unwrap();
        assert_eq!(recorded_at_in_head(stamped), Some(Some(at)));
    }

    #[test]
    fn anything_else_is_left_to_the_loader() {
        for head in [
            &b""[..],
            b"{\n  \"format\": \"other\",\n  \"trace\": {",
            b"{\"format\":\"tracedeck/cassette\",\"trace\":{}}",
            b"{\n  \"format\": \"tracedeck/cassette\",\n  \"recorded_at\": \"yesterday\",\n  \"trace\": {",
            b"{\n  \"format\": \"tracedeck/cassette\",\n  \"recorded_at\": \"2026-11-29T19:41:13Z",
        ] {
            assert_eq!(recorded_at_in_head(head), None, "{head:?}");
        }
    }
}

//! The lookup index: finding a cassette by a prefix of its hash, and the
//! keys of a store, without listing every file; and the facts `ls` shows
//! about each cassette without opening it.
//!
//! It lives in `<store>/.tracedeck/index/` (beside the usage ledger, in the
//! folder every scan of the store skips and git ignores), and is only ever
//! a shortcut: every answer it gives is checked against the files, and a
//! lookup it cannot answer for sure is a walk over the store as before.
//!
//! - `hashes/<first two hex>/<sha256>`: one entry per cassette, holding its
//!   key (`<key>\n`). [`Store::write`](super::Store::write) writes it after
//!   the cassette's rename; superseding and `tracedeck prune` remove it.
//! - `keys/<sha256 of the key>.log`: per key, one line per cassette,
//!   `<sha256> <bytes> <recorded_at or -> <modified or ->`, appended by
//!   every write: what [`Store::list`](super::Store::list) would otherwise
//!   open the file for. A cassette's bytes never change (its name is their
//!   hash), so size and `recorded_at` are never stale; a line is used only
//!   for a file the folder's listing holds. The modification time is the
//!   file's when it was written (or the index rebuilt).
//! - `folders`: written by [`Store::rebuild_index`](super::Store::rebuild_index)
//!   (`tracedeck verify --fix`) alone: every folder of the store with its
//!   modification time at the moment the rebuild indexed every cassette in
//!   it. A folder whose modification time is still that one holds the same
//!   names (adding, removing or renaming an entry changes a folder's time),
//!   so the index answers for it; any other folder (written to since, new,
//!   or changed too close to the rebuild for the file system's clock to
//!   tell, see [`RACY`]) is listed, as without an index.
//!
//! Nothing in the index is trusted blindly: an entry names a key, and the
//! cassette is then read from `<key>/<hash>.json` and checked as any load
//! (its bytes must hash to its name). An entry whose file is gone is stale
//! and ignored; an entry that does not read back whole (torn by a crash)
//! makes the lookup walk the store. Index files are written atomically
//! (temporary file, rename) and never flushed to disk: after a machine
//! crash an entry may be missing or torn, which costs a walk, never a
//! wrong answer.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::atomic::{is_temp_name, write_atomic};
use super::error::CassetteError;
use super::format::is_full_hash;
use super::key::{is_valid_segment, validate_key};
use super::ledger::LEDGER_ROOT;
use super::scan::{PrefixMatch, read_sorted_typed};
use crate::json::sha256_hex;

/// The index's folder, inside [`LEDGER_ROOT`].
pub(crate) const INDEX: &str = "index";
const HASHES: &str = "hashes";
const KEYS: &str = "keys";
const FOLDERS: &str = "folders";
const FOLDERS_HEADER: &str = "tracedeck-index folders 1";
const END: &str = "end";
const LOG_SUFFIX: &str = ".log";
/// The longest index entry read (a key is at most 1,024 bytes).
const MAX_ENTRY_BYTES: u64 = 2048;

/// How long before a rebuild a folder must have last changed for the
/// rebuild to vouch for it. File systems stamp modification times from a
/// coarse clock (a few milliseconds on Linux), so a change right after the
/// rebuild's listing could leave a folder's time as it was: a folder that
/// changed this recently is always listed (git calls such entries "racily
/// clean" and re-checks them the same way).
pub(crate) const RACY: Duration = Duration::from_secs(2);

/// `<store>/.tracedeck/index`.
pub(crate) fn index_dir(store: &Path) -> PathBuf {
    store.join(LEDGER_ROOT).join(INDEX)
}

fn entry_path(store: &Path, hash: &str) -> PathBuf {
    index_dir(store).join(HASHES).join(&hash[..2]).join(hash)
}

fn log_name(key: &str) -> String {
    format!("{}{LOG_SUFFIX}", sha256_hex(key.as_bytes()))
}

/// Whether `.tracedeck` and `.tracedeck/index` are real folders (not links)
/// or absent: the index is never read or written through a link.
fn index_is_safe(store: &Path) -> bool {
    let bookkeeping = store.join(LEDGER_ROOT);
    let index = bookkeeping.join(INDEX);
    [bookkeeping, index.join(HASHES), index.join(KEYS), index]
        .iter()
        .all(|dir| real_dir_or_absent(dir))
}

/// Whether `dir` is a folder (not a link to one), or is not there.
fn real_dir_or_absent(dir: &Path) -> bool {
    match fs::symlink_metadata(dir) {
        Ok(meta) => meta.is_dir(),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// Creates `.tracedeck/` with a `.gitignore` (the index is local, like the
/// usage ledger) and `dir` inside the index.
fn create_index_folder(store: &Path, dir: &Path) -> io::Result<()> {
    if !index_is_safe(store) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the store's .tracedeck folder is not a folder",
        ));
    }
    let bookkeeping = store.join(LEDGER_ROOT);
    let ignore = bookkeeping.join(".gitignore");
    if !ignore.exists() {
        fs::create_dir_all(&bookkeeping)?;
        // Best effort, and never over an existing file.
        let _ = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&ignore)
            .and_then(|mut f| {
                f.write_all(
                    b"# tracedeck's usage ledger and lookup index: local, never committed\n*\n",
                )
            });
    }
    fs::create_dir_all(dir)
}

/// What a key's log says of one cassette.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// Its size in bytes.
    pub bytes: u64,
    /// Its `recorded_at`, if it has one.
    pub recorded_at: Option<SystemTime>,
    /// The file's modification time when it was written or last indexed.
    pub modified: Option<SystemTime>,
}

fn nanos(t: SystemTime) -> Option<u128> {
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_nanos())
}

fn from_nanos(n: u128) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_nanos(u64::try_from(n).ok()?))
}

/// One line of a key's log:
/// `<sha256> <bytes> <recorded_at or -> <modified in ns since 1970 or ->\n`.
fn log_line(hash: &str, facts: Facts) -> String {
    let at = facts.recorded_at.map_or("-".to_owned(), |at| {
        humantime::format_rfc3339_micros(at).to_string()
    });
    let modified = facts
        .modified
        .and_then(nanos)
        .map_or("-".to_owned(), |n| n.to_string());
    format!("{hash} {} {at} {modified}\n", facts.bytes)
}

/// Notes a cassette just written: its entry, and its line in its key's
/// log. Best effort: a failure costs later lookups a walk, nothing else.
pub(crate) fn note_written(
    store: &Path,
    cassette: &Path,
    key: &str,
    hash: &str,
    bytes: u64,
    recorded_at: Option<SystemTime>,
) -> io::Result<()> {
    let shard = index_dir(store).join(HASHES).join(&hash[..2]);
    create_index_folder(store, &shard)?;
    if !fs::symlink_metadata(&shard)?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "an index shard is not a folder",
        ));
    }
    // Another folder may hold a copy of this cassette (never one this store
    // wrote there: its bytes name their key): keep its key beside.
    let mut keys = read_entry(&shard.join(hash)).unwrap_or_default();
    if !keys.iter().any(|k| k == key) {
        keys.push(key.to_owned());
        write_atomic(&shard, hash, entry_text(&keys).as_bytes(), false)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let modified = fs::symlink_metadata(cassette)
        .and_then(|m| m.modified())
        .ok();
    let logs = index_dir(store).join(KEYS);
    fs::create_dir_all(&logs)?;
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(log_name(key)))?;
    // One write call per line: appends from several writers never interleave
    // within a line, and a line torn by a crash does not parse.
    let facts = Facts {
        bytes,
        recorded_at,
        modified,
    };
    log.write_all(log_line(hash, facts).as_bytes())
}

/// Removes `key` from the entry of the cassette `hash` (removed from that
/// key's folder), and the entry once it names no folder. Best effort: a
/// stale entry is ignored by lookups anyway.
pub(crate) fn forget(store: &Path, key: &str, hash: &str) {
    if !is_full_hash(hash) || !index_is_safe(store) {
        return;
    }
    let path = entry_path(store, hash);
    let Some(mut keys) = read_entry(&path) else {
        let _ = fs::remove_file(&path); // torn: of no use to anyone
        return;
    };
    keys.retain(|k| k != key);
    if keys.is_empty() {
        let _ = fs::remove_file(&path);
    } else if let Some(shard) = path.parent() {
        let _ = write_atomic(shard, hash, entry_text(&keys).as_bytes(), false);
    }
}

/// What the cassette facts of `key`'s log say, by hash: size and
/// `recorded_at`. Lines that do not parse whole are skipped; an absent or
/// unreadable log is empty.
pub(crate) fn read_log(store: &Path, key: &str) -> HashMap<String, Facts> {
    let mut facts = HashMap::new();
    if !index_is_safe(store) {
        return facts;
    }
    let path = index_dir(store).join(KEYS).join(log_name(key));
    let Ok(meta) = fs::symlink_metadata(&path) else {
        return facts;
    };
    if !meta.is_file() {
        return facts;
    }
    let Ok(text) = fs::read_to_string(&path) else {
        return facts;
    };
    for line in text.split_inclusive('\n') {
        if let Some((hash, fact)) = parse_log_line(line) {
            facts.insert(hash.to_owned(), fact);
        }
    }
    facts
}

/// A line as [`log_line`] writes it, exactly; anything else is `None`.
fn parse_log_line(line: &str) -> Option<(&str, Facts)> {
    let line = line.strip_suffix('\n')?;
    let mut fields = line.split(' ');
    let (hash, bytes, at, modified) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if fields.next().is_some() || !is_full_hash(hash) {
        return None;
    }
    let number = |text: &str| -> Option<u128> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    let bytes = u64::try_from(number(bytes)?).ok()?;
    let recorded_at = match at {
        "-" => None,
        text => Some(humantime::parse_rfc3339(text).ok()?),
    };
    let modified = match modified {
        "-" => None,
        text => Some(from_nanos(number(text)?)?),
    };
    Some((
        hash,
        Facts {
            bytes,
            recorded_at,
            modified,
        },
    ))
}

/// A folder as the rebuild recorded it.
#[derive(Debug, Clone, Copy)]
struct Recorded {
    /// Its modification time in nanoseconds, when the rebuild vouches for it.
    mtime: Option<u128>,
    /// Whether it held a `*.json` regular file.
    has_json: bool,
}

fn mtime_ns(meta: &fs::Metadata) -> Option<u128> {
    Some(
        meta.modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos(),
    )
}

/// Reads `folders`; `None` when absent, unreadable or not whole.
fn read_folders(store: &Path) -> Option<HashMap<String, Recorded>> {
    let path = index_dir(store).join(FOLDERS);
    if !index_is_safe(store) || !fs::symlink_metadata(&path).ok()?.is_file() {
        return None;
    }
    let text = fs::read_to_string(&path).ok()?;
    let mut lines = text.split_inclusive('\n');
    if lines.next()? != format!("{FOLDERS_HEADER}\n") {
        return None;
    }
    let mut folders = HashMap::new();
    let mut ended = false;
    for line in lines {
        if ended {
            return None;
        }
        let line = line.strip_suffix('\n')?;
        if line == END {
            ended = true;
            continue;
        }
        let mut fields = line.splitn(3, ' ');
        let (mtime, has_json, folder) = (fields.next()?, fields.next()?, fields.next()?);
        let mtime = match mtime {
            "-" => None,
            digits if digits.bytes().all(|b| b.is_ascii_digit()) => Some(digits.parse().ok()?),
            _ => return None,
        };
        let has_json = match has_json {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let folder = match folder {
            "." => String::new(),
            key => {
                validate_key(key).ok()?;
                key.to_owned()
            }
        };
        folders.insert(folder, Recorded { mtime, has_json });
    }
    ended.then_some(folders)
}

fn folder_path(store: &Path, folder: &str) -> PathBuf {
    let mut path = store.to_path_buf();
    if !folder.is_empty() {
        path.extend(folder.split('/'));
    }
    path
}

fn parent_of(folder: &str) -> &str {
    folder.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// What [`survey`] found: the folders the index answers for.
pub(crate) struct Survey {
    /// The folders unchanged since the rebuild, and whether each holds a
    /// `*.json` file. Every other folder was listed.
    trusted: HashMap<String, bool>,
}

/// Goes over the store as the index allows: every folder the rebuild
/// recorded is checked with one `stat`; those unchanged are trusted (the
/// index knows their cassettes), the others are listed, and so are folders
/// new since the rebuild (found in the listing of their changed parent).
/// Each entry of a listed folder that is not a folder walked into is
/// handed to `visit` with its folder (relative, `/`-separated), as
/// [`walk`](super::scan::walk) does: links are never followed, the
/// bookkeeping folder is skipped, folders whose names are not key segments
/// (or are named like cassettes) are not entered.
///
/// `None` when there is no usable index (never rebuilt, torn) or a folder
/// cannot be read: the caller then walks the store, which reports the
/// error as it always has.
pub(crate) fn survey(
    store: &Path,
    mut visit: impl FnMut(&str, &fs::DirEntry, &str),
) -> Option<Survey> {
    let recorded = read_folders(store)?;
    let root = fs::metadata(store).ok()?;
    if !root.is_dir() {
        return None;
    }
    // Parents before children, so a folder is checked only below folders
    // that are still real folders (never through a link put in their place).
    let mut order: Vec<(&String, &Recorded)> = recorded.iter().collect();
    order.sort_by_key(|(folder, _)| {
        (
            if folder.is_empty() {
                0
            } else {
                folder.matches('/').count() + 1
            },
            folder.as_str(),
        )
    });
    let mut present: HashSet<&str> = HashSet::new();
    let mut trusted = HashMap::new();
    let mut changed = Vec::new();
    for (folder, rec) in order {
        let meta = if folder.is_empty() {
            Some(root.clone())
        } else if present.contains(parent_of(folder)) {
            fs::symlink_metadata(folder_path(store, folder)).ok()
        } else {
            None
        };
        let Some(meta) = meta.filter(fs::Metadata::is_dir) else {
            continue; // gone (its parent changed, and is listed)
        };
        present.insert(folder);
        match rec.mtime {
            Some(mtime) if mtime_ns(&meta) == Some(mtime) => {
                trusted.insert(folder.clone(), rec.has_json);
            }
            _ => changed.push(folder.clone()),
        }
    }
    let mut stack = changed;
    while let Some(folder) = stack.pop() {
        let dir = folder_path(store, &folder);
        for entry in fs::read_dir(&dir).ok()? {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let cassette_named = name.strip_suffix(".json").is_some_and(is_full_hash);
            if is_dir && folder.is_empty() && name == LEDGER_ROOT {
                continue;
            }
            if is_dir && !cassette_named {
                if !is_valid_segment(name) {
                    continue;
                }
                let child = if folder.is_empty() {
                    name.to_owned()
                } else {
                    format!("{folder}/{name}")
                };
                // A recorded folder was checked on its own, above.
                if !recorded.contains_key(&child) {
                    stack.push(child);
                }
                continue;
            }
            visit(&folder, &entry, name);
        }
    }
    Some(Survey { trusted })
}

impl Survey {
    /// The trusted folders that hold a `*.json` file (keys, for [`Store::keys`](super::Store::keys)).
    pub(crate) fn trusted_keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.trusted
            .iter()
            .filter(|(folder, has_json)| **has_json && !folder.is_empty())
            .map(|(folder, _)| folder.as_str())
    }
}

/// Every entry named `<hash>.json` whose hash starts with `prefix`, as
/// [`find_by_prefix`](super::scan::find_by_prefix) finds them, from the
/// index where it can answer; `None` when it cannot (no index, a torn
/// entry, a folder that cannot be read): the caller then walks the store.
pub(crate) fn find_by_prefix(store: &Path, prefix: &str) -> Option<Vec<PrefixMatch>> {
    if prefix.len() < 2 {
        return None;
    }
    let mut found = Vec::new();
    let survey = survey(store, |folder, entry, name| {
        let cassette_named = name.strip_suffix(".json").is_some_and(is_full_hash);
        if cassette_named && !folder.is_empty() && name.starts_with(prefix) {
            found.push(PrefixMatch {
                path: entry.path(),
                folder: folder.to_owned(),
            });
        }
    })?;
    let shard = index_dir(store).join(HASHES).join(&prefix[..2]);
    if !real_dir_or_absent(&shard) {
        return None;
    }
    let entries = match fs::read_dir(&shard) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(_) => return None,
    };
    for entry in entries.into_iter().flatten() {
        let entry = entry.ok()?;
        let name = entry.file_name();
        let Some(hash) = name.to_str() else { continue };
        if !is_full_hash(hash) || !hash.starts_with(prefix) {
            continue;
        }
        // A torn entry: the index cannot say where this cassette is.
        for key in read_entry(&entry.path())? {
            if !survey.trusted.contains_key(&key) {
                continue; // its folder was listed (or is gone)
            }
            let path = folder_path(store, &key).join(format!("{hash}.json"));
            match fs::symlink_metadata(&path) {
                // Stale: the cassette was removed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Anything else there is for the reader to report.
                _ => found.push(PrefixMatch { path, folder: key }),
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Some(found)
}

/// The keys an entry holds (one per line: more than one only when copies
/// of one cassette lie in several folders); `None` unless it is a regular
/// file holding one or more valid keys, each ending in a newline.
fn read_entry(path: &Path) -> Option<Vec<String>> {
    if !fs::symlink_metadata(path).ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    fs::File::open(path)
        .ok()?
        .take(MAX_ENTRY_BYTES * 4)
        .read_to_string(&mut text)
        .ok()?;
    let mut keys = Vec::new();
    for line in text.split_inclusive('\n') {
        let key = line.strip_suffix('\n')?;
        validate_key(key).ok()?;
        keys.push(key.to_owned());
    }
    (!keys.is_empty()).then_some(keys)
}

fn entry_text(keys: &[String]) -> String {
    keys.iter().map(|k| format!("{k}\n")).collect()
}

/// What [`Store::rebuild_index`](super::Store::rebuild_index) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexRebuild {
    /// Cassettes indexed.
    pub cassettes: usize,
    /// Folders recorded.
    pub folders: usize,
    /// Folders the index answers for until they change: those not changed
    /// in the two seconds before the rebuild, and read whole.
    pub trusted_folders: usize,
    /// Stale entries and key logs removed (their cassettes are gone).
    pub removed: usize,
}

/// How the index of a store compares with its files, as
/// [`Store::verify`](super::Store::verify) finds it. The index is a
/// shortcut that lookups check, never a source of truth: a stale one makes
/// lookups slower, not wrong, and is no problem of the store's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexCheck {
    /// Whether the store has an index at all (`.tracedeck/index/`): one is
    /// made by the first write of this version, and rebuilt by
    /// [`Store::rebuild_index`](super::Store::rebuild_index).
    pub exists: bool,
    /// Whether its list of folders (made by a rebuild) is there and whole;
    /// without it every lookup walks the store.
    pub folders_recorded: bool,
    /// Folders the index does not vouch for: changed since the rebuild,
    /// new, or changed in the two seconds before it. Lookups list them.
    pub changed_folders: usize,
    /// Cassettes with no entry.
    pub unindexed: usize,
    /// Entries whose cassette is gone.
    pub stale: usize,
}

impl IndexCheck {
    /// Whether lookups can answer from the index alone: a whole list of
    /// folders, none changed, every cassette indexed, no stale entry.
    pub fn is_fresh(&self) -> bool {
        self.exists
            && self.folders_recorded
            && self.changed_folders == 0
            && self.unindexed == 0
            && self.stale == 0
    }
}

impl std::fmt::Display for IndexCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.exists {
            return write!(f, "no lookup index (lookups walk the store)");
        }
        if self.is_fresh() {
            return write!(f, "lookup index up to date");
        }
        let mut parts = Vec::new();
        if !self.folders_recorded {
            parts.push("never rebuilt, so lookups walk the store".to_owned());
        } else if self.changed_folders > 0 {
            parts.push(format!(
                "{} changed since it was rebuilt or just before (lookups list them)",
                plural(self.changed_folders, "folder")
            ));
        }
        if self.unindexed > 0 {
            parts.push(format!(
                "{} not indexed",
                plural(self.unindexed, "cassette")
            ));
        }
        if self.stale > 0 {
            parts.push(format!(
                "{} for removed cassettes",
                plural(self.stale, "stale entry")
            ));
        }
        write!(f, "lookup index out of date: {}", parts.join(", "))
    }
}

fn plural(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {what}s"),
    }
}

/// Compares the index with `cassettes`, every cassette-named entry of the
/// store's key folders as a verify walk found them (hash each).
pub(crate) fn check(store: &Path, cassettes: &HashSet<&str>) -> IndexCheck {
    let dir = index_dir(store);
    if !index_is_safe(store) || !dir.is_dir() {
        return IndexCheck::default();
    }
    let mut check = IndexCheck {
        exists: true,
        ..IndexCheck::default()
    };
    let indexed = indexed_hashes(store);
    check.unindexed = cassettes.iter().filter(|h| !indexed.contains(**h)).count();
    check.stale = indexed
        .iter()
        .filter(|h| !cassettes.contains(h.as_str()))
        .count();
    if read_folders(store).is_some() {
        check.folders_recorded = true;
        let mut changed = 0;
        let survey = survey(store, |_, _, _| {});
        match (survey, read_folders(store)) {
            (Some(survey), Some(recorded)) => {
                changed += recorded.len().saturating_sub(survey.trusted.len());
            }
            _ => changed = 1,
        }
        check.changed_folders = changed;
    }
    check
}

/// The names of every entry (hashes), from the shard listings only.
fn indexed_hashes(store: &Path) -> HashSet<String> {
    let mut hashes = HashSet::new();
    let Ok(shards) = fs::read_dir(index_dir(store).join(HASHES)) else {
        return hashes;
    };
    for shard in shards.flatten() {
        if !shard.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(entries) = fs::read_dir(shard.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_full_hash(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
                hashes.insert(name);
            }
        }
    }
    hashes
}

/// Rebuilds the index of the store in `store` from its folders: see
/// [`Store::rebuild_index`](super::Store::rebuild_index).
pub(crate) fn rebuild(store: &Path, max_bytes: u64) -> Result<IndexRebuild, CassetteError> {
    let index = index_dir(store);
    let io_error =
        |path: &Path, e: io::Error| CassetteError::io(path, "write the lookup index in", e);
    create_index_folder(store, &index.join(HASHES)).map_err(|e| io_error(&index, e))?;
    fs::create_dir_all(index.join(KEYS)).map_err(|e| io_error(&index, e))?;
    let started = SystemTime::now();
    let mut report = IndexRebuild::default();
    let mut folders: Vec<(String, Recorded)> = Vec::new();
    let mut hashes: HashMap<String, Vec<String>> = HashMap::new();
    let mut logs: HashSet<String> = HashSet::new();
    let mut stack = vec![String::new()];
    while let Some(folder) = stack.pop() {
        let dir = folder_path(store, &folder);
        let meta = |dir: &Path| {
            if folder.is_empty() {
                fs::metadata(dir)
            } else {
                fs::symlink_metadata(dir)
            }
        };
        let before = meta(&dir).ok().as_ref().and_then(mtime_ns);
        let entries = match read_sorted_typed(&dir) {
            Ok(entries) => entries,
            Err(e) if folder.is_empty() => return Err(e),
            Err(_) => {
                // Recorded as never trusted: lookups list it (and fail
                // over to the walk, which reports it).
                folders.push((
                    folder,
                    Recorded {
                        mtime: None,
                        has_json: false,
                    },
                ));
                continue;
            }
        };
        let mut whole = true;
        let mut has_json = false;
        let old_facts = if folder.is_empty() {
            HashMap::new()
        } else {
            read_log(store, &folder)
        };
        let mut log = String::new();
        for (path, name, file_type) in entries {
            let cassette_named = name.strip_suffix(".json").is_some_and(is_full_hash);
            if file_type.is_dir() && folder.is_empty() && name == LEDGER_ROOT {
                continue;
            }
            if file_type.is_dir() && !cassette_named {
                if is_valid_segment(&name) {
                    stack.push(if folder.is_empty() {
                        name
                    } else {
                        format!("{folder}/{name}")
                    });
                }
                continue;
            }
            if file_type.is_file() && name.ends_with(".json") {
                has_json = true;
            }
            if folder.is_empty() || !cassette_named {
                continue;
            }
            let hash = &name[..64];
            // Every entry named like a cassette, whatever it is: a lookup
            // must find it to report it, as the walk does. Written below.
            hashes
                .entry(hash.to_owned())
                .or_default()
                .push(folder.clone());
            report.cassettes += 1;
            if !file_type.is_file() {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let recorded_at = match old_facts.get(hash) {
                Some(facts) if facts.bytes == meta.len() => Some(facts.recorded_at),
                _ => super::listing::head_facts(&path, max_bytes).map(|(_, at)| at),
            };
            if let Some(recorded_at) = recorded_at {
                let facts = Facts {
                    bytes: meta.len(),
                    recorded_at,
                    modified: meta.modified().ok(),
                };
                log.push_str(&log_line(hash, facts));
            }
        }
        if !log.is_empty() {
            let name = log_name(&folder);
            whole &= write_atomic(&index.join(KEYS), &name, log.as_bytes(), false).is_ok();
            logs.insert(name);
        }
        let after = meta(&dir).ok().as_ref().and_then(mtime_ns);
        let settled = before.is_some_and(|t| {
            UNIX_EPOCH
                .checked_add(Duration::from_nanos(u64::try_from(t).unwrap_or(u64::MAX)))
                .and_then(|at| at.checked_add(RACY))
                .is_some_and(|at| at < started)
        });
        let mtime = (whole && before == after && settled)
            .then_some(before)
            .flatten();
        report.trusted_folders += usize::from(mtime.is_some());
        folders.push((folder, Recorded { mtime, has_json }));
    }
    // The entries, each naming every folder that holds the cassette. A
    // folder with an entry that could not be written is not vouched for.
    let mut unwritten: HashSet<String> = HashSet::new();
    for (hash, keys) in &hashes {
        let shard = index.join(HASHES).join(&hash[..2]);
        let written = fs::create_dir_all(&shard).is_ok()
            && fs::symlink_metadata(&shard).is_ok_and(|m| m.is_dir())
            && write_atomic(&shard, hash, entry_text(keys).as_bytes(), false).is_ok();
        if !written {
            unwritten.extend(keys.iter().cloned());
        }
    }
    for (folder, rec) in &mut folders {
        if unwritten.contains(folder.as_str()) && rec.mtime.take().is_some() {
            report.trusted_folders -= 1;
        }
    }
    report.folders = folders.len();
    // Entries and logs of cassettes and keys that are gone, and temporary
    // files of writers killed mid-write.
    if let Ok(shards) = fs::read_dir(index.join(HASHES)) {
        for shard in shards.flatten() {
            if !shard.file_type().is_ok_and(|t| t.is_dir()) {
                continue; // never a link followed out of the index
            }
            for entry in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if (is_full_hash(&name) && !hashes.contains_key(&name)) || is_temp_name(&name) {
                    report.removed += usize::from(fs::remove_file(entry.path()).is_ok());
                }
            }
        }
    }
    for entry in fs::read_dir(index.join(KEYS))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name.ends_with(LOG_SUFFIX) && !logs.contains(&name)) || is_temp_name(&name) {
            report.removed += usize::from(fs::remove_file(entry.path()).is_ok());
        }
    }
    let mut text = format!("{FOLDERS_HEADER}\n");
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    for (folder, rec) in &folders {
        let mtime = rec.mtime.map_or("-".to_owned(), |t| t.to_string());
        let folder = if folder.is_empty() { "." } else { folder };
        text.push_str(&format!("{mtime} {} {folder}\n", u8::from(rec.has_json)));
    }
    text.push_str(END);
    text.push('\n');
    write_atomic(&index, FOLDERS, text.as_bytes(), false)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_parses_only_whole() {
        let hash = "a".repeat(64);
        let at = humantime::parse_rfc3339("2026-11-29T19:41:13.123456Z").unwrap();
        let facts = Facts {
            bytes: 12,
            recorded_at: Some(at),
            modified: Some(UNIX_EPOCH + Duration::from_nanos(1_795_988_308_409_536_238)),
        };
        let line = log_line(&hash, facts);
        assert_eq!(parse_log_line(&line), Some((hash.as_str(), facts)));
        let bare = Facts {
            bytes: 7,
            recorded_at: None,
            modified: None,
        };
        assert_eq!(
            parse_log_line(&log_line(&hash, bare)),
            Some((hash.as_str(), bare))
        );
        // Torn at every byte, or a torn line run into the next: never a line.
        for cut in 0..line.len() {
            assert_eq!(parse_log_line(&line[..cut]), None, "{cut}");
            let merged = format!("{}{line}", &line[..cut]);
            if cut > 0 {
                assert_eq!(parse_log_line(&merged), None, "{merged:?}");
            }
        }
    }

    #[test]
    fn plural_words() {
        assert_eq!(plural(1, "stale entry"), "1 stale entry");
        assert_eq!(plural(2, "stale entry"), "2 stale entries");
        assert_eq!(plural(3, "folder"), "3 folders");
    }
}

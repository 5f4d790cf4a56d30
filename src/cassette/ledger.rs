//! The usage ledger: which cassettes served a replay since the ledger was
//! last reset, so the ones no run used can be found and pruned.
//!
//! The ledger lives beside the cassettes, in `<store>/.tracedeck/used/`
//! (a folder the store's scans skip, with a `.gitignore` so git never sees
//! it). Each process appends to a file of its own, `<pid>-<random>.log`,
//! one line per cassette it used, `<key>/<sha256>`, each at most once per
//! process. No two processes share a file, so parallel test processes
//! never interleave or lock; readers take the union of every file.
//!
//! Writing is best effort: a replay never fails or waits because the ledger
//! could not be written (a read-only checkout, say); failures are counted
//! ([`UsageLedger::write_failures`]). Each line is written with one
//! `write` call the first time the process uses that cassette, so the
//! cost is one small append per cassette per process, not per call.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::SystemTime;

use super::error::CassetteError;
use super::format::is_full_hash;
use super::scan::scan;
use super::store::Store;

/// The folder, inside a store, that holds tracedeck's own bookkeeping.
/// Scans of the store (keys, loads, verify) skip it; no key may live there.
pub const LEDGER_ROOT: &str = ".tracedeck";

/// Where, inside [`LEDGER_ROOT`], the per-process usage files lie.
const USED: &str = "used";

/// The file holding when the ledger was started (RFC 3339).
const STARTED: &str = "started";

/// Usage files are named `<pid>-<random>.log`.
const LOG_SUFFIX: &str = ".log";

/// Ledger writes that failed in this process, for every store.
static WRITE_FAILURES: AtomicU64 = AtomicU64::new(0);

/// What this process has written to each ledger folder: its own file and
/// the entries already in it.
static WRITERS: LazyLock<Mutex<HashMap<PathBuf, ProcessLog>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

#[derive(Default)]
struct ProcessLog {
    file: Option<fs::File>,
    written: HashSet<String>,
}

/// The record of which cassettes of a store served replays since the
/// ledger was last [reset](UsageLedger::reset), from [`Store::usage`](crate::cassette::Store::usage).
///
/// It lives in `<store>/.tracedeck/used/` (skipped by the store's scans,
/// ignored by git through its own `.gitignore`). Each process appends to a
/// file of its own, one `<key>/<sha256>` line per cassette it used, once, so
/// parallel test processes never interleave or lock; readers take the union.
/// Writing is best effort: a replay never fails because the ledger could not
/// be written ([`UsageLedger::write_failures`] counts it).
///
/// A [`Player`](crate::Player) made from a store (or from its files) and
/// [`replay`](crate::replay::replay) note every cassette they serve;
/// [`unused`](UsageLedger::unused) lists the rest, which is what
/// `tracedeck prune` shows and, with `--yes`, deletes.
///
/// ```
/// use tracedeck::cassette::Store;
/// # let tmp = tempfile::tempdir().unwrap();
/// let store = Store::open(tmp.path()).unwrap();
/// let ledger = store.usage();
/// ledger.reset().unwrap();
/// assert!(ledger.used().unwrap().is_empty());
/// assert!(ledger.unused().unwrap().is_empty()); // an empty store
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageLedger {
    store_dir: PathBuf,
}

/// One cassette file of a store, as the ledger names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CassetteFile {
    /// Its key (its folder in the store).
    pub key: String,
    /// The sha256 of its bytes (its name, less `.json`).
    pub hash: String,
    /// The file.
    pub path: PathBuf,
}

impl CassetteFile {
    /// How the ledger writes it: `<key>/<hash>`.
    pub fn entry(&self) -> String {
        format!("{}/{}", self.key, self.hash)
    }
}

impl Store {
    /// The usage ledger of this store (see [`UsageLedger`]).
    pub fn usage(&self) -> UsageLedger {
        UsageLedger::new(self.dir())
    }
}

impl UsageLedger {
    /// The ledger of the store in `store_dir`. Nothing is read or created
    /// until asked.
    pub fn new(store_dir: impl Into<PathBuf>) -> Self {
        Self {
            store_dir: store_dir.into(),
        }
    }

    /// The ledger of the store a cassette file at `path` with key `key`
    /// lies in (`<store>/<key>/<hash>.json`), if the path has that shape.
    pub(crate) fn for_cassette(path: &Path, key: &str) -> Option<Self> {
        let mut dir = path.parent()?;
        for segment in key.split('/').rev() {
            if dir.file_name()?.to_str()? != segment {
                return None;
            }
            dir = dir.parent()?;
        }
        Some(Self::new(dir))
    }

    /// The store's folder.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The folder holding the usage files: `<store>/.tracedeck/used`.
    pub fn folder(&self) -> PathBuf {
        self.store_dir.join(LEDGER_ROOT).join(USED)
    }

    /// How many ledger writes failed in this process, for any store (a
    /// read-only store, say). Such failures never fail a replay.
    pub fn write_failures() -> u64 {
        WRITE_FAILURES.load(Ordering::Relaxed)
    }

    /// Notes that the cassette `<key>/<hash>` served a replay: appends it
    /// to this process's usage file, unless this process noted it already.
    /// Best effort: returns whether the entry is now in the ledger, and a
    /// failure is counted in [`write_failures`](UsageLedger::write_failures).
    pub fn note(&self, key: &str, hash: &str) -> bool {
        let entry = format!("{key}/{hash}");
        let folder = self.folder();
        let mut writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
        let log = writers.entry(folder.clone()).or_default();
        if log.written.contains(&entry) {
            return true;
        }
        match append(&folder, &mut log.file, &entry) {
            Ok(()) => {
                log.written.insert(entry);
                true
            }
            Err(_) => {
                WRITE_FAILURES.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Notes that a recording just wrote the cassette at `path` under
    /// `key`, so a run that records (Auto or Record mode) never leaves its
    /// new cassettes looking unused. Only when the ledger exists (a replay
    /// or `tracedeck prune --reset` started it): recording alone never
    /// creates one. Nothing is remembered in memory, so a long recording
    /// session does not grow; best effort, as [`note`](UsageLedger::note).
    pub(crate) fn note_written(&self, key: &str, path: &Path) {
        let folder = self.folder();
        if !folder.is_dir() {
            return;
        }
        let Some(hash) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            return;
        };
        let entry = format!("{key}/{hash}");
        let mut writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
        let log = writers.entry(folder.clone()).or_default();
        if log.written.contains(&entry) {
            return;
        }
        if append(&folder, &mut log.file, &entry).is_err() {
            WRITE_FAILURES.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every cassette noted as used since the last reset, as `<key>/<hash>`,
    /// by any process. Empty when the ledger was never written.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when the ledger folder or a usage file exists
    /// but cannot be read.
    pub fn used(&self) -> Result<BTreeSet<String>, CassetteError> {
        let folder = self.folder();
        let mut used = BTreeSet::new();
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(used),
            Err(e) => return Err(CassetteError::io(&folder, "read the usage ledger", e)),
        };
        for entry in entries {
            let entry =
                entry.map_err(|e| CassetteError::io(&folder, "read the usage ledger", e))?;
            let path = entry.path();
            let is_log = entry.file_name().to_string_lossy().ends_with(LOG_SUFFIX);
            if !is_log || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let text = fs::read_to_string(&path)
                .map_err(|e| CassetteError::io(&path, "read the usage file", e))?;
            // A line cut short by a crash has no full hash and is skipped.
            used.extend(
                text.lines()
                    .filter(|line| line.rsplit('/').next().is_some_and(is_full_hash))
                    .map(str::to_owned),
            );
        }
        Ok(used)
    }

    /// When the ledger was started (created, or last reset), if known.
    pub fn started(&self) -> Option<SystemTime> {
        let text = fs::read_to_string(self.folder().join(STARTED)).ok()?;
        humantime::parse_rfc3339(text.trim()).ok()
    }

    /// Forgets every use: removes the usage files and starts the ledger
    /// again from now. Call it between runs: a process replaying while the
    /// ledger is reset may have its uses lost.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when a usage file cannot be removed or the
    /// ledger folder cannot be written.
    pub fn reset(&self) -> Result<(), CassetteError> {
        let folder = self.folder();
        {
            let mut writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
            writers.remove(&folder);
        }
        match fs::read_dir(&folder) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.ends_with(LOG_SUFFIX) || name == STARTED {
                        let path = entry.path();
                        fs::remove_file(&path)
                            .map_err(|e| CassetteError::io(&path, "remove the usage file", e))?;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(CassetteError::io(&folder, "read the usage ledger", e)),
        }
        create_ledger(&folder).map_err(|e| CassetteError::io(&folder, "create the usage ledger", e))
    }

    /// Every cassette file of the store (`<key>/<sha256>.json`, regular
    /// files in a valid key's folder), sorted by key then hash. Nothing is
    /// loaded or checked: `tracedeck verify` does that.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when a folder of the store cannot be read.
    pub fn cassettes(&self) -> Result<Vec<CassetteFile>, CassetteError> {
        let (files, errors) = scan(&self.store_dir)?;
        if let Some(first) = errors.into_iter().next() {
            return Err(first);
        }
        let mut found: Vec<CassetteFile> = files
            .into_iter()
            .filter(|f| f.folder_is_key && f.not_regular.is_none())
            .filter_map(|f| {
                let hash = f.name.strip_suffix(".json")?;
                is_full_hash(hash).then(|| CassetteFile {
                    key: f.folder.clone(),
                    hash: hash.to_owned(),
                    path: f.path.clone(),
                })
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// The cassette files no run noted as used since the last reset,
    /// sorted by key then hash.
    ///
    /// # Errors
    /// As [`cassettes`](UsageLedger::cassettes) and [`used`](UsageLedger::used).
    pub fn unused(&self) -> Result<Vec<CassetteFile>, CassetteError> {
        let used = self.used()?;
        Ok(self
            .cassettes()?
            .into_iter()
            .filter(|c| !used.contains(&c.entry()))
            .collect())
    }
}

/// Creates the ledger folder with its `.gitignore` and `started` stamp,
/// keeping whichever of them exist.
fn create_ledger(folder: &Path) -> io::Result<()> {
    fs::create_dir_all(folder)?;
    if let Some(root) = folder.parent() {
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            // Local bookkeeping: never committed.
            fs::write(
                &ignore,
                "# tracedeck's usage ledger: local, never committed\n*\n",
            )?;
        }
    }
    let started = format!("{}\n", humantime::format_rfc3339_seconds(SystemTime::now()));
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(folder.join(STARTED))
    {
        Ok(mut file) => file.write_all(started.as_bytes()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Appends `entry` as one line to this process's file in `folder`, opening
/// (and creating) it on first use.
fn append(folder: &Path, file: &mut Option<fs::File>, entry: &str) -> io::Result<()> {
    if file.is_none() {
        create_ledger(folder)?;
        let name = format!("{}-{:016x}{LOG_SUFFIX}", std::process::id(), random());
        *file = Some(
            fs::OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(folder.join(name))?,
        );
    }
    let Some(file) = file.as_mut() else {
        return Ok(());
    };
    // One write per line: never torn by another writer (each has its own file).
    file.write_all(format!("{entry}\n").as_bytes())
}

/// A random number from the standard library's per-process hash keys and
/// the clock: enough to tell apart two processes that got the same pid.
fn random() -> u64 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    if let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_of_a_cassette_path_is_found_from_its_key() {
        let hash = "a".repeat(64);
        let path = PathBuf::from(format!("/s/agents/plan/{hash}.json"));
        assert_eq!(
            UsageLedger::for_cassette(&path, "agents/plan"),
            Some(UsageLedger::new("/s"))
        );
        assert_eq!(UsageLedger::for_cassette(&path, "other/plan"), None);
    }

    #[test]
    fn a_failed_write_is_counted_not_raised() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-folder");
        fs::write(&file, "x").unwrap();
        let before = UsageLedger::write_failures();
        assert!(!UsageLedger::new(&file).note("k", &"b".repeat(64)));
        assert!(UsageLedger::write_failures() > before);
    }
}

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::atomic::{ensure_key_dir, is_temp_name, write_atomic};
use super::error::CassetteError;
use super::format::{self, check_trace, is_full_hash};
use super::index::{self, IndexRebuild};
use super::key::validate_key;
use super::redaction::Redaction;
use super::scan::{find_by_prefix, irregular_kind, read_sorted, walk};
use crate::json::canonical::{MAX_JSON_DEPTH, find_too_deep_marker, json_depth};
use crate::json::{canonical_json, sha256_hex};
use crate::span::Trace;

/// A folder of cassettes: one file per trace at `<dir>/<key>/<sha256>.json`.
///
/// `Store` is a handle: cloning it is cheap and clones share only a cache
/// of what each (immutable, content-addressed) file's root input is, so it
/// can be handed to any number of tasks or threads. Any
/// number of processes (or machines, through git) may read and write one
/// folder at the same time: files are content-addressed and written
/// atomically, so a reader sees a whole cassette or none.
///
/// **Order.** Every list of cassettes a store gives ([`traces`](Store::traces),
/// and so replay reports, the CLI and snapshots) is in *content order*: by
/// the canonical JSON of the root span's input, then by the file's hash.
/// Nothing depends on file modification times, so the order survives a
/// `git clone`, a copy or a `touch`.
///
/// **Re-recording replaces.** A trace written under a key whose folder
/// already holds a cassette with the same canonical root input (and other
/// bytes) *supersedes* it: the new file is written and made durable first
/// (temporary file, flushed to disk, renamed), then the old ones are
/// removed. Recording an unchanged session again therefore never grows the
/// folder, and re-recording a changed one leaves one cassette per root
/// input. See [`write`](Store::write).
///
/// **Git.** A folder that [`open`](Store::open) creates gets a
/// `.gitattributes` holding `*.json -text`, so git never converts a
/// cassette's line endings (which would change its bytes, and so its hash).
///
/// ```
/// use tracedeck::cassette::Store;
/// use tracedeck::{Collector, Model, ModelRequest, Recorder, Script, ScriptedModel, with_span};
///
/// # let tmp = tempfile::tempdir().unwrap();
/// # let dir = tmp.path().join("cassettes");
/// let store = Store::open(&dir).unwrap();
/// // Record one session straight into the store ...
/// let model = Recorder::new(ScriptedModel::new(Script::text("Paris")), store.sink());
/// tracedeck::testing::run_paused(async {
///     with_span("capital", "France", async {
///         model.generate(ModelRequest::new("m").user("Capital of France?")).await
///     })
///     .await
///     .unwrap();
///     assert!(model.flush().await.is_clean());
/// });
/// // ... and read it back.
/// assert_eq!(store.keys().unwrap(), ["capital"]);
/// let found = store.traces("capital").unwrap();
/// assert!(found.errors.is_empty());
/// let stored = &found.traces[0];
/// assert_eq!(stored.trace.spans.len(), 2);
/// assert_eq!(store.load(&stored.hash).unwrap().trace, stored.trace);
/// ```
#[derive(Clone)]
pub struct Store {
    config: Arc<Config>,
    /// The root-input digest of every cassette file this store (or a
    /// clone) has read or written, by file hash. Files are content-addressed,
    /// so an entry never goes stale.
    roots: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What [`Store::open`] writes into a store folder it creates, as
/// `.gitattributes`: git must never rewrite a cassette's bytes (a CRLF
/// conversion changes its hash, and the store then refuses it).
pub const STORE_GITATTRIBUTES: &str = "# tracedeck cassettes are content-addressed: their name is the sha256 of their bytes,\n\
# so git must never convert their line endings.\n\
*.json -text\n";

#[derive(Debug, Clone)]
struct Config {
    dir: PathBuf,
    redaction: Redaction,
    stamp_recorded_at: bool,
    sync: bool,
    max_file_bytes: u64,
    stale_temp_age: Duration,
}

/// How old (by modification time) a temporary file left by a write must
/// be before [`Store::open`] and [`Store::remove_stale_temp_files`] remove
/// it, unless told otherwise ([`Store::with_stale_temp_age`]): 10 minutes.
/// A live writer's temporary file lives for the few milliseconds of one
/// write, so one this old was left by a writer that crashed or was killed.
pub const DEFAULT_STALE_TEMP_AGE: Duration = Duration::from_secs(10 * 60);

/// What [`Store::remove_stale_temp_files`] did.
#[derive(Debug, Clone, Default)]
pub struct TempCleanup {
    /// The stale temporary files removed, in path order.
    pub removed: Vec<PathBuf>,
    /// Temporary files too recent to be called stale (perhaps a live
    /// writer's), left alone, in path order.
    pub kept: Vec<PathBuf>,
    /// Files that could not be removed, and folders that could not be read.
    pub errors: Vec<CassetteError>,
}

/// The largest file a [`Store`] reads as a cassette unless told otherwise
/// ([`Store::with_max_file_bytes`]): 64 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One cassette read from (or just written to) a [`Store`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrace {
    /// The sha256 of the file's bytes, which is also its name.
    pub hash: String,
    /// The file.
    pub path: PathBuf,
    /// The trace, as stored (that is, redacted).
    pub trace: Trace,
    /// When it was recorded, if the cassette says (see [`Store::with_recorded_at`]).
    pub recorded_at: Option<SystemTime>,
    /// The file's modification time, where the file system keeps one.
    pub modified: Option<SystemTime>,
}

impl StoredTrace {
    /// The trace's key (its root span's key), which is also its folder.
    pub fn key(&self) -> &str {
        self.trace.key()
    }

    /// When the cassette was recorded, for display: `recorded_at` if the
    /// cassette has one, else the file's modification time. It orders
    /// nothing: [`Store::traces`] lists in content order.
    pub fn recorded_time(&self) -> Option<SystemTime> {
        self.recorded_at.or(self.modified)
    }
}

/// The cassettes of one key, as [`Store::traces`] finds them.
#[derive(Debug, Clone, Default)]
pub struct KeyTraces {
    /// Every cassette that loaded, in content order (see [`Store::traces`]).
    pub traces: Vec<StoredTrace>,
    /// Every file that did not, one error naming each, in file-name order.
    pub errors: Vec<CassetteError>,
}

impl KeyTraces {
    /// Whether no cassette loaded.
    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }
}

/// A trace ready to be written: its folder key, bytes and hash.
pub(crate) struct Prepared {
    key: String,
    bytes: Vec<u8>,
    hash: String,
    /// The sha256 of the root span's canonical input (see [`root_digest`]).
    root: String,
    recorded_at: Option<SystemTime>,
    /// The redacted trace, when there was redaction (else it is the caller's).
    trace: Option<Trace>,
}

impl Store {
    /// Opens the store in `dir`, creating the folder (and its parents) if
    /// missing, and removes the temporary files crashed writers left there
    /// more than [`DEFAULT_STALE_TEMP_AGE`] ago (best effort: a failure to
    /// clean never fails `open`; see
    /// [`remove_stale_temp_files`](Store::remove_stale_temp_files)). No
    /// cassette is read until asked.
    ///
    /// When `open` creates the folder, it also writes a `.gitattributes`
    /// into it ([`STORE_GITATTRIBUTES`]: `*.json -text`), so that git
    /// (with `core.autocrlf`, as on Windows) never converts a cassette's
    /// line endings, which would change its bytes and break its hash. An
    /// existing folder is left as it is, and an existing `.gitattributes` is
    /// never overwritten; for a folder that already exists, add the line
    /// yourself (or to the repository's `.gitattributes`, as
    /// `<folder>/** -text`). Writing the file is best effort: a failure
    /// never fails `open`.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when the folder cannot be created, or exists as a file.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Store, CassetteError> {
        let dir = dir.into();
        if create_store_dir(&dir)? {
            // Best effort, and never over an existing file (create_new).
            let _ = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dir.join(".gitattributes"))
                .and_then(|mut f| f.write_all(STORE_GITATTRIBUTES.as_bytes()));
        }
        let store = Store {
            config: Arc::new(Config {
                dir,
                redaction: Redaction::default(),
                stamp_recorded_at: false,
                sync: true,
                max_file_bytes: DEFAULT_MAX_FILE_BYTES,
                stale_temp_age: DEFAULT_STALE_TEMP_AGE,
            }),
            roots: Arc::default(),
        };
        // Best effort: a store that cannot be cleaned (read-only, say) still opens.
        let _ = store.remove_stale_temp_files();
        Ok(store)
    }

    /// Opens the store in `dir`, an existing folder, as it is: unlike
    /// [`open`](Store::open), nothing is created, no `.gitattributes`
    /// written and no stale temporary file removed, so opening costs no
    /// walk over the store. For readers that only look (listing, showing
    /// one cassette) in big stores or on read-only media.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when `dir` cannot be inspected or is not a folder.
    pub fn open_existing(dir: impl Into<PathBuf>) -> Result<Store, CassetteError> {
        let dir = dir.into();
        let meta =
            fs::metadata(&dir).map_err(|e| CassetteError::io(&dir, "open the store folder", e))?;
        if !meta.is_dir() {
            let e = io::Error::new(io::ErrorKind::NotADirectory, "not a folder");
            return Err(CassetteError::io(&dir, "open the store folder", e));
        }
        Ok(Store {
            config: Arc::new(Config {
                dir,
                redaction: Redaction::default(),
                stamp_recorded_at: false,
                sync: true,
                max_file_bytes: DEFAULT_MAX_FILE_BYTES,
                stale_temp_age: DEFAULT_STALE_TEMP_AGE,
            }),
            roots: Arc::default(),
        })
    }

    /// How old a leftover temporary file must be to be removed as stale
    /// (default [`DEFAULT_STALE_TEMP_AGE`], 10 minutes). The setting applies
    /// to [`remove_stale_temp_files`](Store::remove_stale_temp_files);
    /// [`open`](Store::open) always uses the default.
    pub fn with_stale_temp_age(self, age: Duration) -> Self {
        self.configure(|c| c.stale_temp_age = age)
    }

    /// Removes the temporary files (`.tmp-*.partial`) that writers killed
    /// mid-write left behind, anywhere in the store: those whose
    /// modification time is older than the stale age (see
    /// [`with_stale_temp_age`](Store::with_stale_temp_age)). Younger ones may
    /// belong to a live writer, in this process or another, and are kept.
    /// [`open`](Store::open) calls this; it is also what
    /// `tracedeck verify --fix` does. Symbolic links and other non-regular
    /// entries are never removed.
    ///
    /// Removing a stale file is safe even if its writer were still alive:
    /// the writer's rename then fails and its write reports an error, never a
    /// torn cassette.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when the store's folder cannot be read; problems
    /// with single files are in [`TempCleanup::errors`].
    pub fn remove_stale_temp_files(&self) -> Result<TempCleanup, CassetteError> {
        let mut temps = Vec::new();
        let errors = walk(self.dir(), |_, _, entry, name| {
            if is_temp_name(name) && entry.file_type().is_ok_and(|t| t.is_file()) {
                temps.push(entry.path());
            }
        })?;
        let mut cleanup = TempCleanup {
            errors,
            ..TempCleanup::default()
        };
        let now = SystemTime::now();
        for path in temps {
            let modified = fs::symlink_metadata(&path).and_then(|m| m.modified());
            let stale = modified.is_ok_and(|m| {
                now.duration_since(m)
                    .is_ok_and(|age| age >= self.config.stale_temp_age)
            });
            if !stale {
                cleanup.kept.push(path);
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => cleanup.removed.push(path),
                // Gone already: another cleaner was first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => cleanup.errors.push(CassetteError::io(
                    &path,
                    "remove a stale temporary file",
                    e,
                )),
            }
        }
        cleanup.removed.sort();
        cleanup.kept.sort();
        Ok(cleanup)
    }

    /// Hides `redaction`'s paths in every trace before it is hashed and written.
    pub fn with_redaction(self, redaction: Redaction) -> Self {
        self.configure(|c| c.redaction = redaction)
    }

    /// Whether to stamp each new cassette with the wall-clock time it was
    /// written, as `recorded_at` (off by default).
    ///
    /// The stamp is shown (by `tracedeck ls`, say) but orders nothing:
    /// lists are in content order (see [`traces`](Store::traces)). It makes
    /// the bytes — and so the file name — of every recording unique, so two
    /// recordings of the same deterministic session are no longer
    /// byte-identical (contract 6 holds only with it off); the later one
    /// still supersedes the earlier, as any re-recording of the same root
    /// input does (see [`write`](Store::write)).
    pub fn with_recorded_at(self, on: bool) -> Self {
        self.configure(|c| c.stamp_recorded_at = on)
    }

    /// Whether to flush each cassette to disk before it is renamed into
    /// place (on by default). Turned off, a machine crash (not a process
    /// crash) may leave an empty cassette behind, which loading reports as
    /// truncated; writes are faster.
    pub fn with_sync(self, on: bool) -> Self {
        self.configure(|c| c.sync = on)
    }

    /// The largest file read as a cassette, in bytes (default
    /// [`DEFAULT_MAX_FILE_BYTES`], 64 MiB). A larger file is
    /// [`CassetteError::TooLarge`], found from its size before anything is
    /// read; writing a larger cassette is refused the same way, so every
    /// cassette written can be read back.
    pub fn with_max_file_bytes(self, limit: u64) -> Self {
        self.configure(|c| c.max_file_bytes = limit)
    }

    /// The largest file read as a cassette (see [`with_max_file_bytes`](Store::with_max_file_bytes)).
    pub fn max_file_bytes(&self) -> u64 {
        self.config.max_file_bytes
    }

    fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// The redaction applied before writing.
    pub fn redaction(&self) -> &Redaction {
        &self.config.redaction
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// The folder of `key` (which need not exist).
    ///
    /// # Errors
    /// [`CassetteError::InvalidKey`] for an invalid key.
    pub fn key_dir(&self, key: &str) -> Result<PathBuf, CassetteError> {
        validate_key(key)?;
        let mut dir = self.config.dir.clone();
        dir.extend(key.split('/'));
        Ok(dir)
    }

    /// Every key with at least one `.json` file in its folder, sorted by
    /// bytes; nested keys read `a/b`.
    ///
    /// With a lookup index (see [`rebuild_index`](Store::rebuild_index)),
    /// folders unchanged since it was rebuilt cost one `stat` each and only
    /// the others are listed; without one, every folder is listed.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when a folder of the store cannot be read.
    pub fn keys(&self) -> Result<Vec<String>, CassetteError> {
        let mut keys = BTreeSet::new();
        // From the index where it answers: one `stat` per unchanged folder.
        let mut listed = BTreeSet::new();
        if let Some(survey) = index::survey(self.dir(), |folder, entry, name| {
            if !folder.is_empty()
                && name.ends_with(".json")
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                listed.insert(folder.to_owned());
            }
        }) {
            keys.extend(listed);
            keys.extend(survey.trusted_keys().map(str::to_owned));
            return Ok(keys.into_iter().collect());
        }
        let errors = walk(self.dir(), |folder, is_key, entry, name| {
            if is_key
                && name.ends_with(".json")
                && !keys.contains(folder)
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                keys.insert(folder.to_owned());
            }
        })?;
        if let Some(first) = errors.into_iter().next() {
            return Err(first);
        }
        Ok(keys.into_iter().collect())
    }

    /// Every cassette of `key`, in content order, each loaded and checked
    /// as by [`load`](Store::load). Files that fail to load are returned as
    /// errors alongside the good ones. A key with no folder has no traces.
    ///
    /// **Content order**: by the canonical JSON (see
    /// [`canonical_json`]) of the root span's input, compared byte by
    /// byte, then by the file's hash. It depends on the cassettes' bytes
    /// alone — never on file modification times or `recorded_at` — so the
    /// same cassettes list in the same order on every machine, after a
    /// `git clone`, a copy or a `touch`. Subfolders (nested keys) are not
    /// included.
    ///
    /// Reads never leave the store's tree: a key folder (or a folder on its
    /// way) that is a symbolic link is an error, and an entry named like a
    /// cassette that is not a regular file (a link, FIFO, socket, device) is
    /// reported in [`KeyTraces::errors`] without being opened.
    ///
    /// # Errors
    /// [`CassetteError::InvalidKey`] for an invalid key;
    /// [`CassetteError::NotRegular`] when the key's folder, or one above it
    /// in the store, is a symbolic link or not a folder;
    /// [`CassetteError::Io`] when the key's folder exists but cannot be read.
    pub fn traces(&self, key: &str) -> Result<KeyTraces, CassetteError> {
        let Some(dir) = self.checked_key_dir(key)? else {
            return Ok(KeyTraces::default());
        };
        let entries = match read_sorted(&dir) {
            Ok(entries) => entries,
            Err(CassetteError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(KeyTraces::default());
            }
            Err(e) => return Err(e),
        };
        let mut found = KeyTraces::default();
        for (path, name) in entries {
            if !name.ends_with(".json") {
                continue;
            }
            // A folder is a nested key, unless it is named like a cassette.
            let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
            if is_dir && !name.strip_suffix(".json").is_some_and(is_full_hash) {
                continue;
            }
            match read_cassette(&path, Some(key), self.config.max_file_bytes) {
                Ok(stored) => found.traces.push(stored),
                Err(e) => found.errors.push(e),
            }
        }
        found.traces.sort_by_cached_key(|t| {
            // A loaded trace's input is JSON, so this cannot fail.
            let input = canonical_json(&t.trace.root().input).unwrap_or_default();
            (input, t.hash.clone())
        });
        Ok(found)
    }

    /// The folder of `key`, checked on the way down: `None` when it does not
    /// exist; an error when it (or a folder above it in the store) is a
    /// link or not a folder, or cannot be inspected.
    pub(crate) fn checked_key_dir(&self, key: &str) -> Result<Option<PathBuf>, CassetteError> {
        let dir = self.key_dir(key)?;
        let mut segment = self.config.dir.clone();
        for name in key.split('/') {
            segment.push(name);
            match fs::symlink_metadata(&segment) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) => {
                    return Err(CassetteError::NotRegular {
                        path: segment,
                        what: irregular_kind(meta.file_type()).unwrap_or("a file, not a folder"),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(CassetteError::io(&segment, "inspect the key folder", e)),
            }
        }
        Ok(Some(dir))
    }

    /// Loads the cassette whose hash is `hash` or starts with it (at least
    /// 4 hex digits; upper case is accepted), wherever its key.
    ///
    /// Finding it reads no cassette but the one. With a lookup index (see
    /// [`rebuild_index`](Store::rebuild_index)) it reads the index entries
    /// whose names start with the prefix, one `stat` per folder of the
    /// store, and the listings of the folders changed since the index was
    /// rebuilt; an entry counts only if its cassette is there. Without an
    /// index (or one that does not read back whole) it walks every folder's
    /// listing, as `BENCHMARKS.md` (item 3) measures. Both find the same
    /// files: a prefix two cassettes share is refused either way.
    ///
    /// Loading checks everything: the file name is the sha256 of the bytes,
    /// the JSON is whole, the format and version are known, the trace is
    /// well-formed and lies in its key's folder. Each failure is a typed
    /// error naming the file.
    ///
    /// # Errors
    /// [`CassetteError::InvalidHash`], [`CassetteError::NotFound`],
    /// [`CassetteError::AmbiguousHash`], or whatever is wrong with the file.
    pub fn load(&self, hash: &str) -> Result<StoredTrace, CassetteError> {
        let prefix = hash.to_ascii_lowercase();
        let hex = prefix.bytes().all(|b| b.is_ascii_hexdigit());
        if !(4..=64).contains(&prefix.len()) || !hex {
            return Err(CassetteError::InvalidHash {
                hash: hash.to_owned(),
            });
        }
        // The index where it can answer for sure, else a walk over the
        // names. Either way no file is inspected until it is the one.
        let mut matches = match index::find_by_prefix(self.dir(), &prefix) {
            Some(matches) => matches,
            None => find_by_prefix(self.dir(), &prefix)?,
        };
        match matches.len() {
            0 => Err(CassetteError::NotFound {
                hash: prefix,
                dir: self.dir().to_owned(),
            }),
            1 => {
                let file = matches.remove(0);
                read_cassette(&file.path, Some(&file.folder), self.config.max_file_bytes)
            }
            _ => Err(CassetteError::AmbiguousHash {
                prefix,
                matches: matches.into_iter().map(|f| f.path).collect(),
            }),
        }
    }

    /// Writes `trace` as a cassette and returns it as stored.
    ///
    /// The trace is checked (it has a root, ids increase, parents come
    /// first) and its key validated; then it is redacted, encoded as
    /// canonical JSON (see the [module docs](super)) and hashed, and the
    /// bytes are written atomically to `<dir>/<key>/<hash>.json`: into a
    /// temporary file in the same folder, flushed, then renamed. If that
    /// file already exists with the same bytes, nothing is written and the
    /// call succeeds. No temporary file outlives the call.
    ///
    /// **Superseding.** Then every other cassette in the key's folder whose
    /// root span has the same canonical input is removed: the new recording
    /// replaces them (contract 10). The order is crash-safe: the new file is
    /// durable (flushed, renamed, and — with [`with_sync`](Store::with_sync)
    /// on — its folder flushed) before any old file is removed, so a crash
    /// leaves the old cassette, the new one, or both, never neither. Only
    /// files that load as cassettes of this key (name = hash of the bytes,
    /// known format and version) are ever removed, and never the file just
    /// written. When several writers (threads or processes) write the same
    /// root input with different bytes at once, each checks after removing
    /// that its own file is still there and writes it again if another
    /// writer removed it, so at least one of them remains.
    ///
    /// # Errors
    /// [`CassetteError::InvalidTrace`], [`CassetteError::InvalidKey`],
    /// [`CassetteError::Serialize`], or [`CassetteError::Io`] naming the
    /// path that could not be created or written, or the superseded
    /// cassette that could not be removed (the new one is written then).
    pub fn write(&self, trace: &Trace) -> Result<StoredTrace, CassetteError> {
        let mut prepared = self.prepare(trace)?;
        let path = self.put(&prepared)?;
        let modified = fs::metadata(&path).and_then(|m| m.modified()).ok();
        Ok(StoredTrace {
            hash: prepared.hash,
            path,
            trace: prepared.trace.take().unwrap_or_else(|| trace.clone()),
            recorded_at: prepared.recorded_at,
            modified,
        })
    }

    /// Writes `trace` like [`write`](Store::write), without building the
    /// [`StoredTrace`]; returns the file's path.
    pub(crate) fn write_quietly(&self, trace: &Trace) -> Result<PathBuf, CassetteError> {
        let prepared = self.prepare(trace)?;
        self.put(&prepared)
    }

    /// The bytes and hash `trace` would be stored as, without writing anything.
    ///
    /// # Errors
    /// As [`write`](Store::write), less the I/O errors.
    pub fn encode(&self, trace: &Trace) -> Result<(String, Vec<u8>), CassetteError> {
        let prepared = self.prepare(trace)?;
        Ok((prepared.hash, prepared.bytes))
    }

    fn prepare(&self, trace: &Trace) -> Result<Prepared, CassetteError> {
        check_trace(trace).map_err(|problem| CassetteError::InvalidTrace {
            key: trace
                .spans
                .first()
                .map(|s| s.key.clone())
                .unwrap_or_default(),
            problem,
        })?;
        let key = trace.key().to_owned();
        validate_key(&key)?;
        check_depth(trace)?;
        let redaction = &self.config.redaction;
        let trace: Cow<'_, Trace> = if redaction.is_empty() {
            Cow::Borrowed(trace)
        } else {
            let mut owned = trace.clone();
            redaction.apply_to_trace(&mut owned);
            Cow::Owned(owned)
        };
        let recorded_at = self
            .config
            .stamp_recorded_at
            .then(|| truncate_to_micros(SystemTime::now()));
        let bytes = format::encode(&trace, recorded_at)?;
        if bytes.len() as u64 > self.config.max_file_bytes {
            return Err(CassetteError::TooLarge {
                path: self.key_dir(&key)?.join("<new cassette>.json"),
                size: Some(bytes.len() as u64),
                limit: self.config.max_file_bytes,
            });
        }
        let hash = sha256_hex(&bytes);
        let root = root_digest(&trace.root().input)?;
        Ok(Prepared {
            key,
            bytes,
            hash,
            root,
            recorded_at,
            trace: match trace {
                Cow::Owned(owned) => Some(owned),
                Cow::Borrowed(_) => None,
            },
        })
    }

    fn put(&self, prepared: &Prepared) -> Result<PathBuf, CassetteError> {
        let dir = ensure_key_dir(self.dir(), &prepared.key)?;
        let name = format!("{}.json", prepared.hash);
        let path = write_atomic(&dir, &name, &prepared.bytes, self.config.sync)?;
        // Best effort: without its entry, a lookup walks the folder.
        let _ = index::note_written(
            self.dir(),
            &path,
            &prepared.key,
            &prepared.hash,
            prepared.bytes.len() as u64,
            prepared.recorded_at,
        );
        self.remember_root(&prepared.hash, &prepared.root);
        let superseded = self.superseded_by(&dir, prepared);
        if superseded.is_empty() {
            return Ok(path);
        }
        // The new file must be durable before an old one goes: flush the
        // rename (the folder's entry) to disk too.
        if self.config.sync {
            sync_dir(&dir)?;
        }
        let mut failed = None;
        for old in superseded {
            match fs::remove_file(&old) {
                Ok(()) => {
                    if let Some(hash) = old.file_stem().and_then(|s| s.to_str()) {
                        index::forget(self.dir(), &prepared.key, hash);
                    }
                }
                // Gone already: another writer superseded it too.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    failed.get_or_insert(CassetteError::io(
                        &old,
                        "remove the superseded cassette",
                        e,
                    ));
                }
            }
        }
        // A concurrent writer of the same root input (other bytes) may have
        // removed ours as superseded by its own, while we removed its: write
        // ours again, so at least one remains. Nothing is removed after this.
        if fs::symlink_metadata(&path).is_err() {
            write_atomic(&dir, &name, &prepared.bytes, self.config.sync)?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(path),
        }
    }

    /// Rebuilds the store's lookup index (`<dir>/.tracedeck/index/`, local:
    /// git ignores it) from its folders: an entry for every cassette, each
    /// key's log of sizes and `recorded_at`, and the list of folders with
    /// their modification times, which lets [`load`](Store::load) by prefix,
    /// [`keys`](Store::keys) and [`list`](Store::list) skip the folders
    /// unchanged since. Stale entries (of removed cassettes) go. What
    /// `tracedeck verify --fix` does.
    ///
    /// [`write`](Store::write) adds each new cassette's entry and log line,
    /// but a folder written to after the rebuild is listed again by lookups
    /// (the index vouches for a folder only as the rebuild saw it) until the
    /// next rebuild; so are folders changed in the two seconds before it
    /// (file systems stamp times from a coarse clock). Safe to run while
    /// other processes write: a folder they change is listed.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when the store's folder cannot be read or the
    /// index cannot be written.
    pub fn rebuild_index(&self) -> Result<IndexRebuild, CassetteError> {
        index::rebuild(self.dir(), self.config.max_file_bytes)
    }

    /// Removes from the lookup index the cassette `hash` (a full sha256)
    /// of `key`, for tools that delete cassettes themselves (as
    /// `tracedeck prune` does), after removing the file. Best effort, and
    /// never needed for correctness: an entry whose file is gone is ignored.
    pub fn remove_from_index(&self, key: &str, hash: &str) {
        index::forget(self.dir(), key, hash);
    }

    fn remember_root(&self, hash: &str, root: &str) {
        self.roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash.to_owned(), root.to_owned());
    }

    /// The other cassettes in `dir` (the folder of `prepared.key`) whose
    /// root input is `prepared`'s: regular files named `<hash>.json`, not
    /// the new one, whose bytes hash to their name and hold a cassette of
    /// this format, version and key. Files that cannot be read, or are
    /// anything else, are left alone (`verify` reports them).
    fn superseded_by(&self, dir: &Path, prepared: &Prepared) -> Vec<PathBuf> {
        let Ok(entries) = read_sorted(dir) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for (path, name) in entries {
            let Some(hash) = name.strip_suffix(".json").filter(|s| is_full_hash(s)) else {
                continue;
            };
            if hash == prepared.hash {
                continue;
            }
            let known = self
                .roots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(hash)
                .cloned();
            let root = match known {
                Some(root) => root,
                None => match self.read_root(&path, hash, &prepared.key) {
                    Some(root) => {
                        self.remember_root(hash, &root);
                        root
                    }
                    None => continue,
                },
            };
            if root == prepared.root {
                found.push(path);
            }
        }
        found
    }

    /// The root-input digest of the cassette at `path`, if it is a regular
    /// file whose bytes hash to `hash` and hold a cassette of this format
    /// and version whose root key is `key`.
    fn read_root(&self, path: &Path, hash: &str, key: &str) -> Option<String> {
        let bytes = read_bounded(path, self.config.max_file_bytes).ok()?;
        if sha256_hex(&bytes) != hash {
            return None;
        }
        let root: format::RootOnly = serde_json::from_slice(&bytes).ok()?;
        if root.format != format::FORMAT || root.version != format::VERSION || root.key != key {
            return None;
        }
        root_digest(&root.input).ok()
    }
}

/// The sha256 of the canonical JSON of a root span's input: what makes two
/// recordings of a key "the same root input" (contract 10).
pub(crate) fn root_digest(input: &serde_json::Value) -> Result<String, CassetteError> {
    Ok(sha256_hex(&canonical_json(input)?))
}

/// Creates the store folder `dir` and its parents; `true` when this call
/// created `dir` itself (so it was new), `false` when it was there already.
fn create_store_dir(dir: &Path) -> Result<bool, CassetteError> {
    let error = |e| CassetteError::io(dir, "create the store folder", e);
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(error)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(error(e)),
    }
}

/// Flushes the folder `dir` itself to disk, so a rename into it survives a
/// machine crash. Folders cannot be opened for that on Windows, where a
/// rename is durable once it returns: nothing to do there.
fn sync_dir(dir: &Path) -> Result<(), CassetteError> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| CassetteError::io(dir, "flush to disk", e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads and checks the cassette at `path`; `folder_key` is the key its
/// folder stands for, if known.
pub(crate) fn read_cassette(
    path: &Path,
    folder_key: Option<&str>,
    max_bytes: u64,
) -> Result<StoredTrace, CassetteError> {
    let bytes = read_bounded(path, max_bytes)?;
    let decoded = format::decode_trace(path, &bytes, folder_key)?;
    let modified = fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok(StoredTrace {
        hash: decoded.hash,
        path: path.to_owned(),
        trace: decoded.trace,
        recorded_at: decoded.recorded_at,
        modified,
    })
}

/// Refuses a trace with a span `input` or `output` nested deeper than
/// [`MAX_JSON_DEPTH`], or one [`with_span`](crate::with_span) stopped
/// serializing for that reason: such a cassette could not be read back, and
/// encoding it would recurse as deep as it nests. Measured without recursion.
pub(crate) fn check_depth(trace: &Trace) -> Result<(), CassetteError> {
    for span in &trace.spans {
        let fields = [
            ("input", Some(&span.input)),
            ("output", span.output.as_ref()),
        ];
        for (field, value) in fields {
            let Some(value) = value else { continue };
            let (depth, at_least) = match find_too_deep_marker(value) {
                Some(depth) => (depth, true),
                None => (json_depth(value), false),
            };
            if at_least || depth > MAX_JSON_DEPTH {
                return Err(CassetteError::TooDeep {
                    key: trace.key().to_owned(),
                    span: span.id.0,
                    field,
                    depth,
                    at_least,
                    limit: MAX_JSON_DEPTH,
                });
            }
        }
    }
    Ok(())
}

/// Reads the regular file at `path`, at most `max_bytes` of it.
///
/// The entry is inspected without following links first: a symbolic link,
/// FIFO, socket, device or folder is [`CassetteError::NotRegular`] and is
/// never opened (opening a FIFO would block). A file larger than
/// `max_bytes` by its metadata is [`CassetteError::TooLarge`] before it is
/// opened; and the read itself stops one byte past the limit, for files
/// whose size the metadata does not tell (as in `/proc`).
pub(crate) fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, CassetteError> {
    let meta = fs::symlink_metadata(path).map_err(|e| CassetteError::io(path, "inspect", e))?;
    if let Some(what) = irregular_kind(meta.file_type()) {
        return Err(CassetteError::NotRegular {
            path: path.to_owned(),
            what,
        });
    }
    let too_large = |size| CassetteError::TooLarge {
        path: path.to_owned(),
        size,
        limit: max_bytes,
    };
    if meta.len() > max_bytes {
        return Err(too_large(Some(meta.len())));
    }
    let file = fs::File::open(path).map_err(|e| CassetteError::io(path, "read", e))?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| CassetteError::io(path, "read", e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(None));
    }
    Ok(bytes)
}

/// `t`, truncated to whole microseconds as `recorded_at` stores it.
fn truncate_to_micros(t: SystemTime) -> SystemTime {
    humantime::parse_rfc3339(&humantime::format_rfc3339_micros(t).to_string()).unwrap_or(t)
}

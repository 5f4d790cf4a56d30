//! Cassettes on object storage (feature `object-store`): the local
//! [`Store`](super::Store)'s content-addressed layout and bytes on any
//! [`object_store`] backend.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

use super::error::CassetteError;
use super::format::{self, check_trace, is_full_hash};
use super::index::IndexCheck;
use super::key::validate_key;
use super::listing::{KeyListing, ListedCassette};
use super::store::{DEFAULT_MAX_FILE_BYTES, KeyTraces, StoredTrace, check_depth, root_digest};
use super::verify::{FileReport, VerifyReport, verify_bytes};
use crate::json::{canonical_json, sha256_hex};
use crate::sink::{DEFAULT_QUEUE_CAPACITY, QueuedSink, SinkError, TraceWriter};
use crate::span::Trace;

/// Cassettes in an object store: one object per trace at
/// `<prefix>/<key>/<sha256>.json`, holding exactly the bytes the local
/// [`Store`](super::Store) writes for that trace (same canonical encoding,
/// same hash), so a folder synced to a bucket, or a bucket synced to a
/// folder, reads the same on both.
///
/// - **Writes** are put-if-absent ([`PutMode::Create`]): an object's name is
///   the hash of its bytes, so an existing object of that name already holds
///   those bytes, and [`object_store::Error::AlreadyExists`] counts as
///   success. Nothing is ever overwritten. By default a write does not
///   supersede older cassettes of the same root input, as the local store's
///   does: old recordings stay until removed. Turn that on with
///   [`with_supersede`](Self::with_supersede) (it costs a listing of the
///   key's folder per write and needs permission to delete).
/// - **Reads** check every object exactly as the local store checks a file
///   (its name is `<sha256>.json`, it is a cassette of this format and
///   version, its bytes hash to its name, its trace is well-formed and of
///   its folder's key); a failure is a [`CassetteError`] naming the object.
/// - **Listing** uses prefixes: [`keys`](Self::keys), [`load`](Self::load)
///   and [`verify`](Self::verify) list everything under the prefix,
///   [`traces`](Self::traces) and [`list`](Self::list) only the objects
///   directly under `<prefix>/<key>/`.
///
/// The handle is cheap to clone and can be shared between tasks.
///
/// ```
/// # tracedeck::testing::run_paused(async {
/// use std::sync::Arc;
/// use object_store::memory::InMemory;
/// use tracedeck::cassette::ObjectStoreCassettes;
///
/// let cassettes = ObjectStoreCassettes::new(Arc::new(InMemory::new()), "cassettes");
/// assert!(cassettes.keys().await.unwrap().is_empty());
/// # });
/// ```
#[derive(Clone)]
pub struct ObjectStoreCassettes {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    max_object_bytes: u64,
    supersede: bool,
    /// The root-input digest of every cassette this handle (or a clone)
    /// has written or read while superseding, by hash: objects are
    /// content-addressed, so an entry never goes stale.
    roots: Arc<Mutex<HashMap<String, String>>>,
}

impl fmt::Debug for ObjectStoreCassettes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreCassettes")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix.as_ref())
            .finish()
    }
}

fn store_error(path: &str, action: &'static str, e: object_store::Error) -> CassetteError {
    CassetteError::ObjectStore {
        path: PathBuf::from(path),
        action,
        source: Arc::new(e),
    }
}

impl ObjectStoreCassettes {
    /// Cassettes in `store` under `prefix` (`""` for the bucket's root;
    /// slashes separate levels, as in `team/cassettes`).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            store,
            prefix: ObjectPath::from(prefix),
            max_object_bytes: DEFAULT_MAX_FILE_BYTES,
            supersede: false,
            roots: Arc::default(),
        }
    }

    /// Whether a [`write`](Self::write) removes the other cassettes of its
    /// key with the same canonical root input, as the local
    /// [`Store::write`](super::Store::write) does (contract 10): off by
    /// default.
    ///
    /// On, each write, once its own put has succeeded (so the new cassette
    /// is durable first), lists `<prefix>/<key>/`, downloads each other
    /// `<sha256>.json` object it has not seen before to learn its root
    /// input (checked as [`traces`](Self::traces) checks; an object that
    /// fails to load is never removed), and deletes those with the same
    /// root input. Deleting by name is exact: a name is the hash of the
    /// bytes, so it never removes other content. When writers race on the
    /// same root input with different bytes, each checks after deleting
    /// that its own object is still there and puts it again if not, so at
    /// least one remains. The cost is a listing per write (and a download
    /// per object first seen), and the credentials need delete permission:
    /// the reasons it is not the default for a bucket many machines write.
    pub fn with_supersede(mut self, on: bool) -> Self {
        self.supersede = on;
        self
    }

    /// The largest object read as a cassette (default
    /// [`DEFAULT_MAX_FILE_BYTES`], as the local store); a larger one is a
    /// [`CassetteError::TooLarge`] and is not downloaded.
    pub fn with_max_object_bytes(mut self, limit: u64) -> Self {
        self.max_object_bytes = limit;
        self
    }

    /// The backend.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix every object is under.
    pub fn prefix(&self) -> &str {
        self.prefix.as_ref()
    }

    fn key_path(&self, key: &str) -> ObjectPath {
        key.split('/')
            .fold(self.prefix.clone(), |path, segment| path.join(segment))
    }

    /// The canonical bytes and hash of `trace`, checked as the local store
    /// checks a trace before writing it.
    fn prepare(trace: &Trace) -> Result<(Vec<u8>, String), CassetteError> {
        check_trace(trace).map_err(|problem| CassetteError::InvalidTrace {
            key: trace
                .spans
                .first()
                .map(|s| s.key.clone())
                .unwrap_or_default(),
            problem,
        })?;
        validate_key(trace.key())?;
        check_depth(trace)?;
        let bytes = format::encode(trace, None)?;
        let hash = sha256_hex(&bytes);
        Ok((bytes, hash))
    }

    /// Writes `trace` as `<prefix>/<key>/<sha256>.json` with put-if-absent
    /// and returns it as stored. An object already there under that name
    /// holds the same bytes: the call succeeds without writing. With
    /// [`with_supersede`](Self::with_supersede) on, the other cassettes of
    /// the key with the same root input are then deleted.
    ///
    /// # Errors
    /// [`CassetteError::InvalidTrace`], [`CassetteError::InvalidKey`],
    /// [`CassetteError::Serialize`], or [`CassetteError::ObjectStore`]
    /// naming the object when the backend fails (when superseding, the
    /// listing, or a superseded object that could not be deleted: the new
    /// cassette is written then).
    pub async fn write(&self, trace: &Trace) -> Result<StoredTrace, CassetteError> {
        let (bytes, hash) = Self::prepare(trace)?;
        let location = self.key_path(trace.key()).join(format!("{hash}.json"));
        let payload = PutPayload::from(bytes);
        self.put_if_absent(&location, payload.clone()).await?;
        if self.supersede {
            let root = root_digest(&trace.root().input)?;
            self.remember_root(&hash, &root);
            self.remove_superseded(trace.key(), &hash, &root, &location, payload)
                .await?;
        }
        Ok(StoredTrace {
            hash,
            path: PathBuf::from(location.as_ref()),
            trace: trace.clone(),
            recorded_at: None,
            modified: None,
        })
    }

    async fn put_if_absent(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
    ) -> Result<(), CassetteError> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.store.put_opts(location, payload, options).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(store_error(location.as_ref(), "put object", e)),
        }
    }

    fn remember_root(&self, hash: &str, root: &str) {
        self.roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash.to_owned(), root.to_owned());
    }

    /// Deletes the other cassettes of `key` whose root input digest is
    /// `root` (see [`with_supersede`](Self::with_supersede)), then makes sure
    /// the new object at `location` is still there.
    async fn remove_superseded(
        &self,
        key: &str,
        hash: &str,
        root: &str,
        location: &ObjectPath,
        payload: PutPayload,
    ) -> Result<(), CassetteError> {
        let dir = self.key_path(key);
        let listed = self
            .store
            .list_with_delimiter(Some(&dir))
            .await
            .map_err(|e| store_error(dir.as_ref(), "list objects", e))?;
        let mut removed = false;
        let mut failed = None;
        for meta in listed.objects {
            let Some(other) = meta
                .location
                .filename()
                .and_then(|name| name.strip_suffix(".json"))
                .filter(|stem| is_full_hash(stem) && *stem != hash)
                .map(str::to_owned)
            else {
                continue;
            };
            let known = self
                .roots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&other)
                .cloned();
            let other_root = match known {
                Some(known) => known,
                // Only an object that loads as a cassette of this key (its
                // bytes hash to its name) is ever a candidate.
                None => match self.read(&meta.location, meta.size, Some(key)).await {
                    Ok(stored) => {
                        let Ok(digest) = root_digest(&stored.trace.root().input) else {
                            continue;
                        };
                        self.remember_root(&other, &digest);
                        digest
                    }
                    Err(_) => continue,
                },
            };
            if other_root != root {
                continue;
            }
            match self.store.delete(&meta.location).await {
                // Gone already: another writer superseded it too.
                Ok(()) | Err(object_store::Error::NotFound { .. }) => removed = true,
                Err(e) => {
                    failed.get_or_insert(store_error(
                        meta.location.as_ref(),
                        "delete the superseded object",
                        e,
                    ));
                }
            }
        }
        // A concurrent writer of the same root input (other bytes) may have
        // deleted ours as superseded by its own while we deleted its: put
        // ours again, so at least one remains. Nothing is deleted after this.
        if removed {
            match self.store.head(location).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    self.put_if_absent(location, payload).await?;
                }
                Err(e) => return Err(store_error(location.as_ref(), "head object", e)),
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Every cassette of `key` (the objects directly under
    /// `<prefix>/<key>/` named `*.json`), each checked like the local
    /// store's, in the same content order as
    /// [`Store::traces`](super::Store::traces). Objects that fail are
    /// returned as errors naming them, alongside the good ones.
    ///
    /// # Errors
    /// [`CassetteError::InvalidKey`], or [`CassetteError::ObjectStore`] when
    /// the listing fails.
    pub async fn traces(&self, key: &str) -> Result<KeyTraces, CassetteError> {
        validate_key(key)?;
        let dir = self.key_path(key);
        let listed = self
            .store
            .list_with_delimiter(Some(&dir))
            .await
            .map_err(|e| store_error(dir.as_ref(), "list objects", e))?;
        let mut objects = listed.objects;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        let mut found = KeyTraces::default();
        for meta in objects {
            if !meta.location.as_ref().ends_with(".json") {
                continue;
            }
            match self.read(&meta.location, meta.size, Some(key)).await {
                Ok(mut stored) => {
                    stored.modified = Some(meta.last_modified.into());
                    found.traces.push(stored);
                }
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

    /// Reads and checks one object, as the local store reads a file.
    async fn read(
        &self,
        location: &ObjectPath,
        size: u64,
        key: Option<&str>,
    ) -> Result<StoredTrace, CassetteError> {
        let path = PathBuf::from(location.as_ref());
        if size > self.max_object_bytes {
            return Err(CassetteError::TooLarge {
                path,
                size: Some(size),
                limit: self.max_object_bytes,
            });
        }
        let bytes = async { self.store.get(location).await?.bytes().await }
            .await
            .map_err(|e| store_error(location.as_ref(), "get object", e))?;
        let decoded = format::decode_trace(&path, &bytes, key)?;
        Ok(StoredTrace {
            hash: decoded.hash,
            path,
            trace: decoded.trace,
            recorded_at: decoded.recorded_at,
            modified: None,
        })
    }

    /// Every key with at least one `<sha256>.json` object, sorted by bytes;
    /// nested keys read `a/b`. Folders that are not valid keys are left out.
    ///
    /// # Errors
    /// [`CassetteError::ObjectStore`] when the listing fails.
    pub async fn keys(&self) -> Result<Vec<String>, CassetteError> {
        let mut keys = BTreeSet::new();
        for meta in self.list_all().await? {
            let Some((folder, name)) = self.relative(&meta.location) else {
                continue;
            };
            let is_cassette = name.strip_suffix(".json").is_some_and(is_full_hash);
            // As the local store: only folders that are valid keys (`verify`
            // reports cassettes in any other).
            if is_cassette && !folder.is_empty() && validate_key(&folder).is_ok() {
                keys.insert(folder);
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// Every object under the prefix, in location order.
    async fn list_all(&self) -> Result<Vec<ObjectMeta>, CassetteError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut objects: Vec<ObjectMeta> = self
            .store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| store_error(self.prefix.as_ref(), "list objects", e))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// Where `location` lies below the prefix: its folder (`/`-separated,
    /// empty for the prefix itself) and its name. `None` for the prefix.
    fn relative(&self, location: &ObjectPath) -> Option<(String, String)> {
        let depth = self.prefix.parts().count();
        let parts: Vec<_> = location.parts().skip(depth).collect();
        let (name, folder) = parts.split_last()?;
        let folder = folder
            .iter()
            .map(|p| p.as_ref())
            .collect::<Vec<_>>()
            .join("/");
        Some((folder, name.as_ref().to_owned()))
    }

    /// The cassette objects of `key` with their sizes and upload times,
    /// without downloading them: the object-store counterpart of
    /// [`Store::list`](super::Store::list), from one listing of
    /// `<prefix>/<key>/`.
    ///
    /// Every object there named `<sha256>.json` is listed, in name order,
    /// with its size and its last-modified time as the backend reports it
    /// (for S3, the upload time); `recorded_at` is always `None`, since
    /// finding it would take a request per object. Any other `*.json`
    /// object is a [`CassetteError::BadFileName`] in
    /// [`KeyListing::errors`]. Nothing is checked: an object whose bytes no
    /// longer hash to its name is listed;
    /// [`verify`](Self::verify) and [`traces`](Self::traces) find it.
    ///
    /// # Errors
    /// [`CassetteError::InvalidKey`], or [`CassetteError::ObjectStore`]
    /// when the listing fails.
    pub async fn list(&self, key: &str) -> Result<KeyListing, CassetteError> {
        validate_key(key)?;
        let dir = self.key_path(key);
        let listed = self
            .store
            .list_with_delimiter(Some(&dir))
            .await
            .map_err(|e| store_error(dir.as_ref(), "list objects", e))?;
        let mut objects = listed.objects;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        let mut listing = KeyListing::default();
        for meta in objects {
            let Some(name) = meta.location.filename() else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let path = PathBuf::from(meta.location.as_ref());
            if is_full_hash(stem) {
                listing.files.push(ListedCassette {
                    hash: stem.to_owned(),
                    path,
                    bytes: meta.size,
                    recorded_at: None,
                    modified: Some(meta.last_modified.into()),
                });
            } else {
                listing.errors.push(CassetteError::BadFileName { path });
            }
        }
        Ok(listing)
    }

    /// Loads the cassette whose hash is `hash` or starts with it (at least
    /// 4 hex digits; upper case is accepted), wherever its key, as
    /// [`Store::load`](super::Store::load) does: found from one listing of
    /// the prefix (names only), then downloaded and checked as
    /// [`traces`](Self::traces) checks every object.
    ///
    /// # Errors
    /// [`CassetteError::InvalidHash`], [`CassetteError::NotFound`] (its
    /// `dir` is the prefix), [`CassetteError::AmbiguousHash`],
    /// [`CassetteError::ObjectStore`] when the listing or download fails, or
    /// whatever is wrong with the object.
    pub async fn load(&self, hash: &str) -> Result<StoredTrace, CassetteError> {
        let wanted = hash.to_ascii_lowercase();
        let hex = wanted.bytes().all(|b| b.is_ascii_hexdigit());
        if !(4..=64).contains(&wanted.len()) || !hex {
            return Err(CassetteError::InvalidHash {
                hash: hash.to_owned(),
            });
        }
        let mut matches: Vec<(ObjectMeta, String)> = Vec::new();
        for meta in self.list_all().await? {
            let Some((folder, name)) = self.relative(&meta.location) else {
                continue;
            };
            let is_match = name
                .strip_suffix(".json")
                .is_some_and(|stem| is_full_hash(stem) && stem.starts_with(&wanted));
            if is_match {
                matches.push((meta, folder));
            }
        }
        match matches.len() {
            0 => Err(CassetteError::NotFound {
                hash: wanted,
                dir: PathBuf::from(self.prefix.as_ref()),
            }),
            1 => {
                let (meta, folder) = matches.remove(0);
                // A cassette at the top of the prefix has no key folder: the
                // empty folder key then names the mismatch.
                let mut stored = self.read(&meta.location, meta.size, Some(&folder)).await?;
                stored.modified = Some(meta.last_modified.into());
                Ok(stored)
            }
            _ => Err(CassetteError::AmbiguousHash {
                prefix: wanted,
                matches: matches
                    .into_iter()
                    .map(|(meta, _)| PathBuf::from(meta.location.as_ref()))
                    .collect(),
            }),
        }
    }

    /// Downloads and checks every `*.json` object under the prefix, as
    /// [`Store::verify`](super::Store::verify) checks every file: its name
    /// is the sha256 of its bytes, it is whole JSON of a known format and
    /// version, its trace is well-formed and of its folder's key (a folder
    /// that is a valid key; an object at the top of the prefix is a
    /// [`CassetteError::KeyMismatch`]), its bytes are canonical, and no
    /// string in it looks like a secret. An object larger than
    /// [`with_max_object_bytes`](Self::with_max_object_bytes) is
    /// [`CassetteError::TooLarge`], not downloaded; a failed download is a
    /// [`CassetteError::ObjectStore`] problem of that object. Other objects
    /// are ignored. Up to 16 objects are downloaded at once; the report
    /// lists them in location order.
    ///
    /// # Errors
    /// [`CassetteError::ObjectStore`] when listing the prefix fails.
    pub async fn verify(&self) -> Result<VerifyReport, CassetteError> {
        let objects = self.list_all().await?;
        let checks = objects.into_iter().filter_map(|meta| {
            let (folder, name) = self.relative(&meta.location)?;
            name.ends_with(".json").then_some((meta, folder))
        });
        let files: Vec<FileReport> = futures::stream::iter(checks)
            .map(|(meta, folder)| self.verify_object(meta, folder))
            .buffered(16)
            .collect()
            .await;
        Ok(VerifyReport {
            files,
            errors: Vec::new(),
            // A bucket keeps no lookup index: listing by prefix is its index.
            index: IndexCheck::default(),
        })
    }

    /// The [`verify`](Self::verify) report of one object.
    async fn verify_object(&self, meta: ObjectMeta, folder: String) -> FileReport {
        let path = PathBuf::from(meta.location.as_ref());
        let key = (!folder.is_empty() && validate_key(&folder).is_ok()).then(|| folder.clone());
        let fetched = if meta.size > self.max_object_bytes {
            Err(CassetteError::TooLarge {
                path: path.clone(),
                size: Some(meta.size),
                limit: self.max_object_bytes,
            })
        } else {
            async { self.store.get(&meta.location).await?.bytes().await }
                .await
                .map_err(|e| store_error(meta.location.as_ref(), "get object", e))
        };
        match fetched {
            Ok(bytes) => verify_bytes(path, &folder, key, &bytes),
            Err(problem) => FileReport {
                key,
                hash: None,
                problems: vec![problem],
                secrets: Vec::new(),
                path,
            },
        }
    }

    /// A [`Sink`](crate::Sink) writing into these cassettes from a background
    /// writer thread, with a queue of [`DEFAULT_QUEUE_CAPACITY`] traces.
    ///
    /// The writer thread drives the async object-store calls on a
    /// current-thread tokio runtime of its own (built with I/O and timers
    /// on, as HTTP backends need), so the sink works from sync and async
    /// code alike and never blocks the caller's runtime.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when that runtime cannot be built.
    pub fn sink(&self) -> Result<QueuedSink<ObjectStoreWriter>, CassetteError> {
        self.sink_with_capacity(DEFAULT_QUEUE_CAPACITY)
    }

    /// Like [`sink`](Self::sink), with a queue of `capacity` traces (at least 1).
    ///
    /// # Errors
    /// [`CassetteError::Io`] when the writer's runtime cannot be built.
    pub fn sink_with_capacity(
        &self,
        capacity: usize,
    ) -> Result<QueuedSink<ObjectStoreWriter>, CassetteError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CassetteError::Io {
                path: PathBuf::from(self.prefix.as_ref()),
                action: "start the object-store writer's runtime",
                source: Arc::new(e),
            })?;
        let writer = ObjectStoreWriter {
            cassettes: self.clone(),
            runtime: Some(runtime),
        };
        Ok(QueuedSink::new(
            writer,
            capacity,
            "tracedeck-object-store-writer",
        ))
    }
}

/// The [`TraceWriter`] of [`ObjectStoreCassettes::sink`]: writes each trace
/// with [`ObjectStoreCassettes::write`] on a current-thread tokio runtime it
/// owns.
pub struct ObjectStoreWriter {
    cassettes: ObjectStoreCassettes,
    /// Always `Some` until dropped (taken by `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
}

impl ObjectStoreWriter {
    /// The cassettes written to.
    pub fn cassettes(&self) -> &ObjectStoreCassettes {
        &self.cassettes
    }
}

impl fmt::Debug for ObjectStoreWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreWriter")
            .field("cassettes", &self.cassettes)
            .finish_non_exhaustive()
    }
}

impl Drop for ObjectStoreWriter {
    fn drop(&mut self) {
        // The last handle may go away inside async code, where dropping a
        // runtime normally panics; a background shutdown never does.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl TraceWriter for ObjectStoreWriter {
    fn write(&self, trace: &Trace) -> Result<(), SinkError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| SinkError::write(trace.key(), "the writer's runtime is gone"))?;
        runtime
            .block_on(self.cassettes.write(trace))
            .map(drop)
            .map_err(|e| SinkError::write_failed(trace.key(), e))
    }

    fn check(&self, trace: &Trace) -> Result<(), SinkError> {
        let key = || {
            trace
                .spans
                .first()
                .map(|r| r.key.clone())
                .unwrap_or_default()
        };
        if let Err(message) = check_trace(trace) {
            return Err(SinkError::write(
                key(),
                format!("not written to {}: {message}", self.destination()),
            ));
        }
        validate_key(trace.key()).map_err(|e| SinkError::write_failed(key(), e))
    }

    fn destination(&self) -> String {
        format!(
            "{}/{}",
            self.cassettes.store,
            self.cassettes.prefix.as_ref()
        )
    }
}

impl crate::replay::Player {
    /// A player serving every trace recorded under `key` in `cassettes`
    /// (feature `object-store`): the object-store counterpart of
    /// [`Player::from_store`](crate::replay::Player::from_store), each cassette
    /// named by its object in errors and misses. No redaction is applied to
    /// live requests unless set with
    /// [`with_redaction`](crate::replay::Player::with_redaction).
    ///
    /// # Errors
    /// [`ReplayError::Cassette`](crate::replay::ReplayError::Cassette) for an
    /// invalid key, a failed listing or any object under the key that fails
    /// to load (a test must not pass on half a cassette).
    pub async fn from_object_store(
        cassettes: &ObjectStoreCassettes,
        key: &str,
    ) -> Result<Self, crate::replay::ReplayError> {
        let loaded = cassettes.traces(key).await?;
        if let Some(err) = loaded.errors.into_iter().next() {
            return Err(err.into());
        }
        Ok(Self::from_remote_files(key, loaded.traces))
    }
}

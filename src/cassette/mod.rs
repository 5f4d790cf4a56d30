//! Cassettes: finished traces as content-addressed, crash-safe files that
//! can be committed to git, shared between machines, and trusted when loaded.
//!
//! A [`Store`] is a folder. Each trace (a root span and all its descendants,
//! with every streamed part and its offset) is one file at
//! `<dir>/<key>/<sha256 of the file's bytes>.json`, where `<key>` is the root
//! span's key (`/`-separated, so keys nest as folders; see [`validate_key`]).
//! [`Store::sink`] gives a [`Sink`](crate::Sink) that a
//! [`Recorder`](crate::Recorder) writes through without ever waiting on the
//! disk.
//!
//! The file format below is also `docs/cassette-format.md`; another tool
//! can read and write cassettes from it alone.
//!
#![doc = include_str!("../../docs/cassette-format.md")]
//!
//! ## Guarantees
//!
//! - **Determinism** (contract 6): ids follow start order and times are
//!   offsets, so the same deterministic session recorded twice under a
//!   paused clock gives byte-identical files — one file, one hash.
//! - **Atomic writes**: a temporary `.tmp-*.partial` file in the key's
//!   folder, flushed to disk, then renamed; an existing identical file is
//!   success; no temporary file outlives a write. Any number of processes
//!   may write one store.
//! - **Checked loads**: a file whose bytes do not hash to its name, that is
//!   cut off, not JSON, of another format or version, or whose trace is
//!   malformed or in the wrong folder, is a typed [`CassetteError`] naming
//!   the file — never a panic, never a silently wrong trace.
//! - **Content order** (contract 5): lists of cassettes come by canonical
//!   root input, then hash — never by file times — so they survive a clone.
//! - **Re-recording replaces** (contract 10): a new recording of a key's
//!   root input supersedes the old cassette, removed only once the new one
//!   is durable; see [`Store::write`].
//! - **Git-safe**: a store folder [`Store::open`] creates gets
//!   `*.json -text` in a `.gitattributes`; a CRLF-converted cassette is the
//!   typed [`CassetteError::LineEndingsConverted`], with the fix.
//! - **Secrets** (contract 9): [`Redaction`] hides JSON paths before
//!   hashing; [`Store::verify`] flags secret-looking strings.
//! - **Usage** (contract 10): replays note the cassettes they serve in a
//!   [`UsageLedger`] kept in `<dir>/.tracedeck/` (a folder every scan of the
//!   store skips, and no key may name), so the cassettes no run used can be
//!   listed and pruned.
//! - **Lookups without a walk**: writes keep a lookup index beside the
//!   ledger (`<dir>/.tracedeck/index/`, local like it), and
//!   [`Store::rebuild_index`] (`tracedeck verify --fix`) records which
//!   folders it vouches for; [`Store::load`] by prefix, [`Store::keys`] and
//!   [`Store::list`] then skip the folders unchanged since. The index only
//!   ever saves work: each answer is checked against the files, and a store
//!   without one (or with a torn one) is walked as before.

mod atomic;
mod error;
mod format;
mod index;
mod key;
mod ledger;
mod listing;
#[cfg(feature = "object-store")]
mod object;
mod redaction;
mod scan;
mod secrets;
mod sink;
mod store;
mod stream_redaction;
mod verify;

pub use crate::json::{MAX_JSON_DEPTH, drop_json, json_depth};
/// Re-exported from [`crate::json`], where the canonical form lives.
#[doc(no_inline)]
pub use crate::json::{canonical_json, sha256_hex};
pub use crate::sink::DEFAULT_QUEUE_CAPACITY;
pub use error::{CassetteError, KeyProblem};
pub use format::{FORMAT, VERSION};
pub use index::{IndexCheck, IndexRebuild};
pub use key::{MAX_KEY_BYTES, MAX_SEGMENT_BYTES, key_distance, validate_key};
pub use ledger::{CassetteFile, LEDGER_ROOT, UsageLedger};
pub use listing::{KeyListing, ListedCassette};
#[cfg(feature = "object-store")]
pub use object::{ObjectStoreCassettes, ObjectStoreWriter};
pub use redaction::{DEFAULT_PLACEHOLDER, Redaction};
pub use secrets::{SecretFinding, SecretKind, find_secrets, find_secrets_in_text};
pub use sink::{StoreSink, StoreSinkStats};
pub use store::{
    DEFAULT_MAX_FILE_BYTES, DEFAULT_STALE_TEMP_AGE, KeyTraces, STORE_GITATTRIBUTES, Store,
    StoredTrace, TempCleanup,
};
pub use verify::{FileReport, VerifyReport};

impl Store {
    /// A [`Sink`](crate::Sink) writing into this store from a background
    /// writer, with a queue of [`DEFAULT_QUEUE_CAPACITY`] traces.
    pub fn sink(&self) -> StoreSink {
        StoreSink::new(self.clone(), DEFAULT_QUEUE_CAPACITY)
    }

    /// Like [`sink`](Store::sink), with a queue of `capacity` traces (at least 1).
    pub fn sink_with_capacity(&self, capacity: usize) -> StoreSink {
        StoreSink::new(self.clone(), capacity)
    }
}

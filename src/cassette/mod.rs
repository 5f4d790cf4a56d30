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
//! # File format, version 1
//!
//! A cassette is one JSON object in canonical form ([`canonical_json`]):
//! object keys sorted by their UTF-8 bytes at every depth, indented by two
//! spaces per level, `": "` between a key and its value, one item per line,
//! empty objects and arrays written `{}` and `[]`, strings in UTF-8 with only
//! `"`, `\` and control characters escaped, and one `\n` after the closing
//! brace. Its fields:
//!
//! | field | value |
//! |---|---|
//! | `format` | always `"tracedeck/cassette"` |
//! | `version` | always `1` for this layout; readers refuse any other |
//! | `recorded_at` | optional (off by default, see [`Store::with_recorded_at`]): RFC 3339 UTC time with microseconds, `"2025-01-31T09:30:00.123456Z"` |
//! | `trace` | the [`Trace`](crate::Trace): `{"spans": [span, ...]}` |
//!
//! Spans are sorted by `id`; ids count from 0 (the root) in start order,
//! and every span but the root has a `parent` that is an earlier span. A span:
//!
//! | field | value |
//! |---|---|
//! | `id` | integer |
//! | `parent` | integer; absent on the root |
//! | `key` | string: the `with_span` name, or the recorder's key (`llm`) |
//! | `kind` | `"task"` or `"llm"` |
//! | `status` | `"ok"`, `"error"` or `"cancelled"` |
//! | `timing` | `start_us` (from the trace start), `duration_us`, and for streams `opened_us`, `first_part_us`, `ttft_us` (from the call) — all integer microseconds; absent ones are omitted |
//! | `input` | any JSON: the task's input, or the call's [`ModelRequest`](crate::ModelRequest) |
//! | `output` | any JSON, omitted when there was none: the task's output, or the call's [`ModelResponse`](crate::ModelResponse) |
//! | `model` | calls: `{"provider": ..., "model": ...}` |
//! | `streamed` | `true` for streamed calls; omitted otherwise |
//! | `parts` | streamed calls: `[{"offset_us": integer, "part": {"type": "text_delta", "text": ...}}, ...]` in arrival order |
//! | `error` | status `error`: a [`ModelError`](crate::ModelError), `{"type": "http", ...}` |
//!
//! A cassette of a two-span trace:
//!
//! ```json
//! {
//!   "format": "tracedeck/cassette",
//!   "trace": {
//!     "spans": [
//!       {
//!         "id": 0,
//!         "input": "France",
//!         "key": "capital",
//!         "kind": "task",
//!         "output": "Paris",
//!         "status": "ok",
//!         "timing": {
//!           "duration_us": 1200000,
//!           "start_us": 0
//!         }
//!       },
//!       {
//!         "id": 1,
//!         "input": { "model": "m", "messages": [ ... ], "settings": {} },
//!         "key": "llm",
//!         "kind": "llm",
//!         "model": { "model": "scripted-model", "provider": "scripted" },
//!         "output": { "model": { ... }, "text": "Paris", ... },
//!         "parent": 0,
//!         "parts": [
//!           { "offset_us": 800000, "part": { "text": "Paris", "type": "text_delta" } }
//!         ],
//!         "status": "ok",
//!         "streamed": true,
//!         "timing": { "duration_us": 1200000, "first_part_us": 800000, "opened_us": 800000, "start_us": 0, "ttft_us": 800000 }
//!       }
//!     ]
//!   },
//!   "version": 1
//! }
//! ```
//!
//! (Shown with some objects on one line for brevity; a real cassette puts
//! every field on its own line.) To check a file by hand:
//! `sha256sum <file>` prints its name.
//!
//! # Guarantees
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
//! - **Secrets** (contract 9): [`Redaction`] hides JSON paths before
//!   hashing; [`Store::verify`] flags secret-looking strings.

mod atomic;
mod canonical;
mod error;
mod format;
mod key;
mod pointer;
mod redaction;
mod scan;
mod secrets;
mod sink;
mod store;
mod verify;

pub use canonical::{canonical_json, sha256_hex};
pub use error::{CassetteError, KeyProblem};
pub use format::{FORMAT, VERSION};
pub use key::{MAX_KEY_BYTES, MAX_SEGMENT_BYTES, validate_key};
pub use redaction::{DEFAULT_PLACEHOLDER, Redaction};
pub use secrets::{SecretFinding, SecretKind, find_secrets, find_secrets_in_text};
pub use sink::{DEFAULT_QUEUE_CAPACITY, StoreSink, StoreSinkStats};
pub use store::{KeyTraces, Store, StoredTrace};
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

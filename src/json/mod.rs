//! JSON helpers shared by cassettes and replay: one engine for JSON Pointers
//! with a `*` wildcard, the canonical text that cassettes and request hashes
//! are built from, and a structural diff.
//!
//! | item | what it is for |
//! |---|---|
//! | [`Pointer`] | an RFC 6901 pointer whose `*` segment matches every key or item: visit, replace or remove what it selects ([`Redaction`](crate::cassette::Redaction) paths, ignored request paths) |
//! | [`escape`], [`push_segment`] | build a pointer from keys, escaping `~` and `/` |
//! | [`canonical_json`], [`sha256_hex`] | the canonical bytes of a value (sorted keys, pretty-printed) and their hash: cassette files and request keys |
//! | [`diff_json`], [`JsonChange`] | every path where two values differ, in a stable order (replay reports, cassette-miss diagnostics) |
//! | [`JsonError`] | why a value could not be serialized or a pointer parsed |

pub(crate) mod canonical;
mod diff;
mod error;
mod pointer;

pub use canonical::{MAX_JSON_DEPTH, canonical_json, drop_json, json_depth, sha256_hex};
pub use diff::{JsonChange, diff_json};
pub use error::JsonError;
pub use pointer::{Pointer, escape, push_segment};

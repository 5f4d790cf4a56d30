//! Cassettes: the content-addressed store, its format, keys, redaction, concurrency and the committed example cassettes.

#[path = "../common/mod.rs"]
mod common;
mod concurrency;
mod corruption;
mod crash_cleanup;
mod depth;
mod determinism;
mod example_cassettes;
#[path = "../support/example_session.rs"]
mod example_session;
mod format_doc;
mod index;
mod keys;
mod lifecycle;
#[cfg(feature = "object-store")]
mod object_store;
mod readonly;
mod redaction;
mod roundtrip;
mod sink;
mod untrusted_tree;
mod usage;

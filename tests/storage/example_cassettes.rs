//! The example cassettes committed in `cassettes/examples/`, which the CLI
//! tests and the docs use, are exactly what the example session records.
//!
//! The session (`support/example_session.rs`) runs on `ScriptedModel`s under
//! a paused clock, so it is reproducible byte for byte. When it or the
//! cassette format changes, regenerate the folder with:
//!
//! ```sh
//! cargo test --test storage -- --ignored example_cassettes::regenerate
//! ```

use crate::example_session;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tracedeck::cassette::Store;

/// The committed example store.
fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cassettes/examples")
}

/// Records the example session into a store at `dir`.
fn write_session(dir: &Path) {
    let store = Store::open(dir).expect("open the store");
    let traces = tracedeck::testing::run_paused(example_session::record());
    assert_eq!(traces.len(), 6, "the session records six traces");
    for trace in &traces {
        store.write(trace).expect("write a trace");
    }
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // The store's local bookkeeping (lookup index, usage ledger) is no cassette.
            if path.is_dir() && entry.file_name() == tracedeck::cassette::LEDGER_ROOT {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn committed_example_cassettes_are_what_the_session_records() {
    let tmp = tempfile::tempdir().unwrap();
    write_session(tmp.path());
    let fresh = files(tmp.path());
    let committed = files(&committed_dir());
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&fresh),
        "cassettes/examples is out of date: run `cargo test --test storage -- --ignored example_cassettes::regenerate`"
    );
    for (name, bytes) in &fresh {
        assert!(
            committed[name] == *bytes,
            "{name} differs from what the session records"
        );
    }
    assert!(Store::open(committed_dir()).unwrap().verify().is_clean());
}

#[test]
#[ignore = "rewrites cassettes/examples; run it when the example session or the cassette format changes"]
fn regenerate_example_cassettes() {
    let dir = committed_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // An existing folder gets no `.gitattributes` of its own: the
    // repository's covers `cassettes/**`.
    std::fs::create_dir_all(&dir).unwrap();
    write_session(&dir);
}

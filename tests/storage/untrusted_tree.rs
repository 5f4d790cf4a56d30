//! Issue 11, item 5: reads never leave the store's tree, never open what is
//! not a regular file, and cap a cassette's size; `traces`, `load`, `keys`
//! and `verify` agree about all of it.
#![cfg(unix)]

use crate::common::{self, TempStore};

use std::path::Path;
use std::process::Command;

use serde_json::json;
use tracedeck::cassette::{CassetteError, DEFAULT_MAX_FILE_BYTES, Store};

/// A store at `<tmp>/store` and a second one at `<tmp>/outside`, holding
/// one `linked` cassette; returns both and the outside cassette's file.
fn store_and_outside(tmp: &Path) -> (Store, Store, std::path::PathBuf) {
    let store = Store::open(tmp.join("store")).unwrap();
    let outside = Store::open(tmp.join("outside")).unwrap();
    let stored = outside
        .write(&common::simple_trace("linked", json!("outside")))
        .unwrap();
    (store, outside, stored.path)
}

fn only_problem(store: &Store) -> CassetteError {
    let report = store.verify();
    let problems: Vec<_> = report.problems().cloned().collect();
    assert_eq!(problems.len(), 1, "{report}");
    problems.into_iter().next().unwrap()
}

#[test]
fn a_symlinked_key_folder_is_neither_read_nor_reported_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, outside, _) = store_and_outside(tmp.path());
    std::os::unix::fs::symlink(outside.dir().join("linked"), store.dir().join("linked")).unwrap();

    let err = store.traces("linked").unwrap_err();
    assert!(matches!(err, CassetteError::NotRegular { .. }), "{err}");
    assert_eq!(err.path(), Some(store.dir().join("linked").as_path()));
    assert!(store.keys().unwrap().is_empty());
    let problem = only_problem(&store);
    assert!(
        matches!(problem, CassetteError::NotRegular { what, .. } if what.contains("symbolic link"))
    );
    // Nested keys below a linked folder are not read either.
    std::fs::create_dir_all(outside.dir().join("linked/deeper")).unwrap();
    assert!(store.traces("linked/deeper").is_err());
}

#[test]
fn a_symlinked_cassette_file_is_reported_not_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _outside, outside_file) = store_and_outside(tmp.path());
    std::fs::create_dir(store.dir().join("linked")).unwrap();
    let link = store
        .dir()
        .join("linked")
        .join(outside_file.file_name().unwrap());
    std::os::unix::fs::symlink(&outside_file, &link).unwrap();

    let found = store.traces("linked").unwrap();
    assert!(found.traces.is_empty(), "{:?}", found.traces);
    assert_eq!(found.errors.len(), 1);
    assert!(matches!(&found.errors[0], CassetteError::NotRegular { path, .. } if *path == link));
    let hash = outside_file.file_stem().unwrap().to_str().unwrap();
    assert!(matches!(
        store.load(hash),
        Err(CassetteError::NotRegular { .. })
    ));
    assert!(store.keys().unwrap().is_empty());
    assert!(matches!(
        only_problem(&store),
        CassetteError::NotRegular { .. }
    ));
}

#[test]
fn a_link_to_proc_pagemap_is_refused_without_reading() {
    let store = TempStore::new();
    std::fs::create_dir(store.dir().join("k")).unwrap();
    let name = format!("{}.json", "ab".repeat(32));
    std::os::unix::fs::symlink("/proc/self/pagemap", store.dir().join("k").join(&name)).unwrap();
    let found = store.traces("k").unwrap();
    assert!(
        matches!(found.errors[..], [CassetteError::NotRegular { .. }]),
        "{:?}",
        found.errors
    );
    assert!(matches!(
        only_problem(&store),
        CassetteError::NotRegular { .. }
    ));
}

#[test]
fn files_over_the_size_cap_are_a_typed_error_on_read_and_on_write() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.max_file_bytes(), DEFAULT_MAX_FILE_BYTES);
    let stored = store.write(&common::simple_trace("k", json!("x"))).unwrap();
    let size = std::fs::metadata(&stored.path).unwrap().len();

    let small = store.clone().with_max_file_bytes(size - 1);
    let found = small.traces("k").unwrap();
    assert!(
        matches!(&found.errors[..], [CassetteError::TooLarge { size: Some(s), .. }] if *s == size),
        "{:?}",
        found.errors
    );
    assert!(matches!(
        small.load(&stored.hash),
        Err(CassetteError::TooLarge { .. })
    ));
    assert!(matches!(
        only_problem(&small),
        CassetteError::TooLarge { .. }
    ));
    let err = small
        .write(&common::simple_trace("k2", json!("y")))
        .unwrap_err();
    assert!(matches!(err, CassetteError::TooLarge { .. }), "{err}");
    assert!(
        store
            .with_max_file_bytes(size)
            .traces("k")
            .unwrap()
            .errors
            .is_empty()
    );

    // A huge (sparse) file named like a cassette: refused from its size alone.
    let huge = tmp
        .path()
        .join("k")
        .join(format!("{}.json", "cd".repeat(32)));
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(DEFAULT_MAX_FILE_BYTES + 1)
        .unwrap();
    let found = Store::open(tmp.path()).unwrap().traces("k").unwrap();
    assert!(matches!(
        &found.errors[..],
        [CassetteError::TooLarge { size: Some(s), .. }] if *s == DEFAULT_MAX_FILE_BYTES + 1
    ));
}

#[test]
fn a_fifo_or_a_folder_named_like_a_cassette_is_reported_never_opened() {
    let store = TempStore::new();
    store
        .write(&common::simple_trace("k", json!("good")))
        .unwrap();
    let fifo = store
        .dir()
        .join("k")
        .join(format!("{}.json", "ef".repeat(32)));
    match Command::new("mkfifo").arg(&fifo).status() {
        Ok(status) if status.success() => {}
        other => {
            eprintln!("skipping: mkfifo is not available ({other:?})");
            return;
        }
    }
    let folder = store
        .dir()
        .join("k")
        .join(format!("{}.json", "12".repeat(32)));
    std::fs::create_dir(&folder).unwrap();

    // Opening the FIFO would block forever: each of these returning proves it was not opened.
    let found = store.traces("k").unwrap();
    assert_eq!(found.traces.len(), 1);
    let mut bad: Vec<_> = found
        .errors
        .iter()
        .map(|e| e.path().unwrap().to_owned())
        .collect();
    bad.sort();
    let mut expected = vec![fifo.clone(), folder.clone()];
    expected.sort();
    assert_eq!(bad, expected);
    assert!(
        found
            .errors
            .iter()
            .all(|e| matches!(e, CassetteError::NotRegular { .. }))
    );
    assert!(matches!(
        store.load(&"ef".repeat(32)),
        Err(CassetteError::NotRegular { what, .. }) if what.contains("FIFO")
    ));

    let report = store.verify();
    let mut reported: Vec<_> = report
        .problems()
        .map(|e| {
            assert!(matches!(e, CassetteError::NotRegular { .. }), "{e}");
            e.path().unwrap().to_owned()
        })
        .collect();
    reported.sort();
    assert_eq!(reported, expected);
    assert_eq!(store.keys().unwrap(), ["k"]);
}

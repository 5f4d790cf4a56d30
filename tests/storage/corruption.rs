//! Issue 3, point 5: bad files — truncated, a byte flipped, an unknown
//! format version, not JSON, a name that is not the hash — each give a typed
//! error naming the file; a key with one bad file still returns its good
//! traces beside the error; no input makes loading panic.

use crate::common::{self, TempStore};

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::json;
use tracedeck::cassette::{CassetteError, Store, StoredTrace, canonical_json, sha256_hex};

/// A store with two good cassettes under `k`.
fn store_with_two_good() -> (tempfile::TempDir, Store, [StoredTrace; 2]) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let good = [
        store
            .write(&common::simple_trace("k", json!("Spain")))
            .unwrap(),
        store
            .write(&common::simple_trace("k", json!("Italy")))
            .unwrap(),
    ];
    (tmp, store, good)
}

/// The hash and bytes of a good cassette of key `key` that is not written.
fn unwritten(store: &Store, key: &str) -> (String, Vec<u8>) {
    store
        .encode(&common::simple_trace(key, json!("France")))
        .unwrap()
}

/// Writes `bytes` into the folder of key `k` as `<name>.json`.
fn plant(store: &Store, name: &str, bytes: &[u8]) -> PathBuf {
    let path = store.dir().join("k").join(format!("{name}.json"));
    fs::write(&path, bytes).unwrap();
    path
}

/// Writes `bytes` into `k` named by their own hash.
fn plant_hashed(store: &Store, bytes: &[u8]) -> PathBuf {
    plant(store, &sha256_hex(bytes), bytes)
}

/// Asserts loading `path` (by its name, through `traces` and through
/// `verify`) fails with an error naming the file, and returns that error.
fn load_error(store: &Store, path: &Path) -> CassetteError {
    let found = store.traces("k").unwrap();
    let errors: Vec<_> = found
        .errors
        .iter()
        .filter(|e| e.path() == Some(path))
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", found.errors);
    let err = errors[0].clone();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "the message names the file: {err}"
    );
    // The good traces are still there, beside the error.
    assert_eq!(found.traces.len(), 2, "{:?}", found.traces);

    let stem = path.file_stem().unwrap().to_str().unwrap();
    if stem.len() == 64 && stem == stem.to_lowercase() {
        let by_hash = store.load(stem).unwrap_err();
        assert_eq!(by_hash.to_string(), err.to_string());
    }
    let report = store.verify();
    let file = report.files.iter().find(|f| f.path == path).unwrap();
    assert!(!file.problems.is_empty());
    assert_eq!(report.failing().count(), 1, "{report}");
    err
}

#[test]
fn a_truncated_file_is_reported_as_truncated() {
    let (_tmp, store, _good) = store_with_two_good();
    let (hash, bytes) = unwritten(&store, "k");
    // A cut-off write: the name is the hash the whole file would have had.
    let path = plant(&store, &hash, &bytes[..bytes.len() / 2]);
    let err = load_error(&store, &path);
    assert!(matches!(err, CassetteError::Truncated { .. }), "{err}");
    // An empty file too.
    fs::write(&path, b"").unwrap();
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::Truncated { .. }
    ));
    // Losing only the final newline changes the hash.
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::HashMismatch { .. }
    ));
}

#[test]
fn a_flipped_byte_is_reported() {
    let (_tmp, store, _good) = store_with_two_good();
    let (hash, mut bytes) = unwritten(&store, "k");
    // Inside a string: still JSON, but the bytes no longer match the name.
    let at = bytes.windows(6).position(|w| w == b"France").unwrap();
    bytes[at] ^= 0x01;
    let path = plant(&store, &hash, &bytes);
    let err = load_error(&store, &path);
    match &err {
        CassetteError::HashMismatch { actual, .. } => assert_eq!(*actual, sha256_hex(&bytes)),
        other => panic!("{other}"),
    }
    // On structure: no longer JSON.
    bytes[at] ^= 0x01;
    bytes[0] = b'[';
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::NotJson { .. }
    ));
}

#[test]
fn an_unknown_version_or_format_is_reported() {
    let (_tmp, store, _good) = store_with_two_good();
    let text = String::from_utf8(unwritten(&store, "k").1).unwrap();
    let v2 = text.replace("\"version\": 1", "\"version\": 2");
    let path = plant_hashed(&store, v2.as_bytes());
    match load_error(&store, &path) {
        CassetteError::UnsupportedVersion {
            found, supported, ..
        } => {
            assert_eq!(found, "2");
            assert_eq!(supported, 1);
        }
        other => panic!("{other}"),
    }
    fs::remove_file(&path).unwrap();

    let other_format = text.replace("tracedeck/cassette", "vcr/cassette");
    let path = plant_hashed(&store, other_format.as_bytes());
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::UnknownFormat { .. }
    ));
    fs::remove_file(&path).unwrap();

    let path = plant_hashed(&store, b"[1, 2, 3]\n");
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::UnknownFormat { .. }
    ));
}

#[test]
fn a_file_that_is_not_json_is_reported() {
    let (_tmp, store, _good) = store_with_two_good();
    let path = plant_hashed(&store, b"hello, I am not a cassette\n");
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::NotJson { .. }
    ));
    let path2 = plant_hashed(&store, &[0xff, 0xfe, 0x00, 0x7b]);
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        load_error(&store, &path2),
        CassetteError::NotJson { .. }
    ));
}

#[test]
fn a_name_that_is_not_the_hash_is_reported() {
    let (_tmp, store, _good) = store_with_two_good();
    // A good cassette copied under another hash.
    let (hash, bytes) = unwritten(&store, "k");
    let path = plant(&store, &"0".repeat(64), &bytes);
    match load_error(&store, &path) {
        CassetteError::HashMismatch { actual, .. } => assert_eq!(actual, hash),
        other => panic!("{other}"),
    }
    fs::remove_file(&path).unwrap();
    // A name that is no hash at all.
    let path = plant(&store, "notes", &bytes);
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::BadFileName { .. }
    ));
    fs::remove_file(&path).unwrap();
    let path = plant(&store, &hash.to_uppercase(), &bytes);
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::BadFileName { .. }
    ));
}

#[test]
fn a_malformed_trace_or_misplaced_cassette_is_reported() {
    let (_tmp, store, _good) = store_with_two_good();
    let empty = canonical_json(&json!({
        "format": "tracedeck/cassette", "version": 1, "trace": {"spans": []}
    }))
    .unwrap();
    let path = plant_hashed(&store, &empty);
    match load_error(&store, &path) {
        CassetteError::BadTrace { message, .. } => {
            assert!(message.contains("no spans"), "{message}")
        }
        other => panic!("{other}"),
    }
    fs::remove_file(&path).unwrap();

    let no_trace = canonical_json(&json!({"format": "tracedeck/cassette", "version": 1})).unwrap();
    let path = plant_hashed(&store, &no_trace);
    assert!(matches!(
        load_error(&store, &path),
        CassetteError::BadTrace { .. }
    ));
    fs::remove_file(&path).unwrap();

    // A good cassette of key `other`, dropped into the folder of `k`.
    let (hash, bytes) = unwritten(&store, "other");
    let path = plant(&store, &hash, &bytes);
    match load_error(&store, &path) {
        CassetteError::KeyMismatch {
            folder_key,
            trace_key,
            ..
        } => assert_eq!((folder_key.as_str(), trace_key.as_str()), ("k", "other")),
        other => panic!("{other}"),
    }
}

#[test]
fn verify_reports_leftovers_and_non_canonical_files_but_load_accepts_the_latter() {
    let (_tmp, store, good) = store_with_two_good();
    // A hand-formatted cassette, named by its own hash: valid but not canonical.
    let value: serde_json::Value = serde_json::from_slice(&unwritten(&store, "k").1).unwrap();
    let compact = serde_json::to_vec(&value).unwrap();
    let path = plant_hashed(&store, &compact);
    assert_eq!(
        store.load(&sha256_hex(&compact)).unwrap().trace,
        common::simple_trace("k", json!("France"))
    );
    let report = store.verify();
    let file = report.files.iter().find(|f| f.path == path).unwrap();
    assert!(matches!(
        file.problems[..],
        [CassetteError::NotCanonical { .. }]
    ));
    assert_eq!(report.failing().count(), 1);
    fs::remove_file(&path).unwrap();

    // A temporary file from an interrupted write: ignored by readers, reported by verify.
    let leftover = store.dir().join("k/.tmp-abc123.partial");
    fs::write(&leftover, b"{\"format\": \"trace").unwrap();
    assert_eq!(store.traces("k").unwrap().traces.len(), 2);
    assert!(store.traces("k").unwrap().errors.is_empty());
    let report = store.verify();
    let file = report.files.iter().find(|f| f.path == leftover).unwrap();
    assert!(matches!(
        file.problems[..],
        [CassetteError::PartialWrite { .. }]
    ));
    assert!(!report.is_clean());
    assert!(report.to_string().contains("interrupted write"), "{report}");

    // A cassette in a folder that is no valid key, and one at the top.
    fs::remove_file(&leftover).unwrap();
    let bad_dir = store.dir().join("not a key");
    fs::create_dir(&bad_dir).unwrap();
    fs::copy(
        &good[0].path,
        bad_dir.join(format!("{}.json", good[0].hash)),
    )
    .unwrap();
    fs::copy(
        &good[1].path,
        store.dir().join(format!("{}.json", good[1].hash)),
    )
    .unwrap();
    let report = store.verify();
    assert_eq!(report.failing().count(), 2, "{report}");
    assert!(
        report
            .problems()
            .any(|p| matches!(p, CassetteError::InvalidKey { .. }))
    );
    assert!(
        report
            .problems()
            .any(|p| matches!(p, CassetteError::KeyMismatch { .. }))
    );
    // Neither is a key.
    assert_eq!(store.keys().unwrap(), ["k"]);
}

/// Every error loading can give for a file that is not a good cassette.
fn is_file_error(err: &CassetteError, path: &Path) -> bool {
    err.path() == Some(path)
        && matches!(
            err,
            CassetteError::Truncated { .. }
                | CassetteError::NotJson { .. }
                | CassetteError::UnknownFormat { .. }
                | CassetteError::UnsupportedVersion { .. }
                | CassetteError::HashMismatch { .. }
                | CassetteError::BadTrace { .. }
                | CassetteError::KeyMismatch { .. }
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        // A failing case is printed; no regression file is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::with_cases(128)
    })]

    /// Arbitrary bytes — named by their hash, so parsing goes all the way —
    /// never panic and never load.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), json_like in "[{}\\[\\]\":,0-9a-z ]{0,64}") {
        let store = TempStore::new();
        fs::create_dir(store.path().join("k")).unwrap();
        for bytes in [bytes, json_like.into_bytes()] {
            let path = plant_hashed(&store, &bytes);
            let err = store.load(&sha256_hex(&bytes)).unwrap_err();
            prop_assert!(is_file_error(&err, &path), "{}", err);
            let found = store.traces("k").unwrap();
            prop_assert!(found.traces.is_empty());
            prop_assert_eq!(found.errors.len(), 1);
            prop_assert!(!store.verify().is_clean());
            fs::remove_file(&path).unwrap();
        }
    }

    /// Any change to a good cassette — cut short, a byte changed, a byte
    /// added — is detected, with a typed error naming the file.
    #[test]
    fn any_change_to_a_cassette_is_detected(
        trace in common::trace(),
        at in any::<prop::sample::Index>(),
        change in 0u8..3,
        byte in 1u8..=255,
    ) {
        let store = TempStore::new();
        let stored = store.write(&trace).unwrap();
        let mut bytes = fs::read(&stored.path).unwrap();
        let i = at.index(bytes.len());
        match change {
            0 => bytes.truncate(i),
            1 => bytes[i] ^= byte,
            _ => bytes.insert(i, byte),
        }
        fs::write(&stored.path, &bytes).unwrap();
        let err = store.load(&stored.hash).unwrap_err();
        prop_assert!(is_file_error(&err, &stored.path), "{}", err);
        let found = store.traces(trace.key()).unwrap();
        prop_assert!(found.traces.is_empty());
        prop_assert_eq!(found.errors.len(), 1);
    }
}

/// `Store::list` (what `tracedeck ls` counts) reads names, sizes and each
/// file's first bytes: good cassettes are listed with their sizes and
/// `recorded_at`, files that do not open as cassettes are errors naming
/// them, and a nested key's folder is not a file of the key.
#[test]
fn listing_counts_good_files_and_names_the_ones_that_do_not_open_as_cassettes() {
    let (_tmp, store, good) = store_with_two_good();
    let stamped = store
        .clone()
        .with_recorded_at(true)
        .write(&common::simple_trace("k", json!("Greece")))
        .unwrap();
    store
        .write(&common::simple_trace("k/nested", json!("Malta")))
        .unwrap();
    let not_json = plant_hashed(&store, b"not a cassette");
    let misnamed = plant(&store, "notes", b"{}");

    let listing = store.list("k").unwrap();
    let mut expected: Vec<&StoredTrace> = good.iter().chain([&stamped]).collect();
    expected.sort_by(|a, b| a.path.cmp(&b.path));
    let listed: Vec<_> = listing
        .files
        .iter()
        .map(|f| (f.path.clone(), f.hash.clone(), f.bytes, f.recorded_at))
        .collect();
    let wanted: Vec<_> = expected
        .iter()
        .map(|t| {
            let bytes = fs::metadata(&t.path).unwrap().len();
            (t.path.clone(), t.hash.clone(), bytes, t.recorded_at)
        })
        .collect();
    assert_eq!(listed, wanted);
    assert!(stamped.recorded_at.is_some());

    let mut bad: Vec<_> = listing.errors.iter().map(|e| e.path().unwrap()).collect();
    bad.sort();
    let mut planted = vec![not_json.as_path(), misnamed.as_path()];
    planted.sort();
    assert_eq!(bad, planted);
    // Every file `traces` loads, `list` lists; every one it refuses, `list` names.
    let loaded = store.traces("k").unwrap();
    assert_eq!(loaded.traces.len(), listing.files.len());
    assert_eq!(loaded.errors.len(), listing.errors.len());
    assert!(store.list("absent").unwrap().files.is_empty());
}

/// `Store::load` by prefix finds a cassette in any key's folder from the
/// folders' listings, and a prefix two names share is ambiguous.
#[test]
fn load_by_prefix_finds_the_file_in_any_folder_and_refuses_a_shared_prefix() {
    let (_tmp, store, good) = store_with_two_good();
    let nested = store
        .write(&common::simple_trace("a/b", json!("Malta")))
        .unwrap();
    for stored in good.iter().chain([&nested]) {
        let found = store.load(&stored.hash[..6].to_ascii_uppercase()).unwrap();
        assert_eq!(found.path, stored.path);
        assert_eq!(found.trace, stored.trace);
    }
    // A twin name in another key's folder makes the prefix ambiguous.
    let twin = store.dir().join("a").join(format!("{}.json", good[0].hash));
    fs::copy(&good[0].path, &twin).unwrap();
    match store.load(&good[0].hash[..8]) {
        Err(CassetteError::AmbiguousHash { matches, .. }) => {
            assert_eq!(matches, [twin, good[0].path.clone()]);
        }
        other => panic!("expected ambiguous, got {other:?}"),
    }
}

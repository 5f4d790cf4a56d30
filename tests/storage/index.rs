//! Issue 15 item 3: the lookup index (`<store>/.tracedeck/index/`). It is a
//! shortcut that must never change an answer: every lookup through it finds
//! what a walk over the store finds, and a store with no index, a torn one,
//! or one left behind by later changes still answers right.
//!
//! The index vouches for a folder while the folder's modification time is
//! the one the rebuild saw. These tests put folder times an hour back before
//! rebuilding (a rebuild does not vouch for a folder changed in the two
//! seconds before it), and, to show that a lookup really answered from the
//! index, sometimes slip a file into a folder and put its time back.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tracedeck::Trace;
use tracedeck::cassette::{CassetteError, KeyProblem, LEDGER_ROOT, Store, validate_key};

use crate::common::simple_trace;

/// Every folder of the store but its bookkeeping, the store's own included.
fn folders(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() && entry.file_name() != LEDGER_ROOT {
                out.push(entry.path());
                stack.push(entry.path());
            }
        }
    }
    out
}

fn set_mtime(folder: &Path, at: SystemTime) {
    fs::File::open(folder).unwrap().set_modified(at).unwrap();
}

fn mtime(folder: &Path) -> SystemTime {
    fs::metadata(folder).unwrap().modified().unwrap()
}

/// Puts every folder's time an hour back, then rebuilds the index.
fn settle_and_rebuild(store: &Store) {
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for folder in folders(store.dir()) {
        set_mtime(&folder, hour_ago);
    }
    let rebuilt = store.rebuild_index().unwrap();
    assert_eq!(rebuilt.trusted_folders, rebuilt.folders, "{rebuilt:?}");
}

fn trace(key: &str, input: &str) -> Trace {
    simple_trace(key, json!(input))
}

/// Writes a cassette of `trace` into its folder behind the store's back
/// (as a copy, a `git pull` or an older version would), keeping the
/// folder's time as it was; returns its hash.
fn slip_in(store: &Store, trace: &Trace) -> String {
    let (hash, bytes) = store.encode(trace).unwrap();
    let folder = store.key_dir(trace.key()).unwrap();
    let before = mtime(&folder);
    fs::write(folder.join(format!("{hash}.json")), bytes).unwrap();
    set_mtime(&folder, before);
    hash
}

fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store"))
        .unwrap()
        .with_sync(false);
    (tmp, store)
}

#[test]
fn a_rebuilt_index_answers_for_folders_unchanged_since() {
    let (_tmp, store) = store();
    let a = store.write(&trace("a", "one")).unwrap();
    let nested = store.write(&trace("b/c", "two")).unwrap();
    settle_and_rebuild(&store);
    assert!(store.verify().index.is_fresh(), "{}", store.verify().index);
    for stored in [&a, &nested] {
        assert_eq!(store.load(&stored.hash[..8]).unwrap().trace, stored.trace);
    }
    assert_eq!(store.keys().unwrap(), ["a", "b/c"]);

    // A file slipped into `a` with the folder's time put back is not seen:
    // the lookup answered from the index, which vouches for `a` as it was
    // (no folder was listed). This is why a rebuild never vouches for a
    // folder changed in the last two seconds: a change within the file
    // system's clock tick would look like this.
    let hidden = slip_in(&store, &trace("a", "three"));
    assert!(matches!(
        store.load(&hidden[..8]),
        Err(CassetteError::NotFound { .. })
    ));
    assert_eq!(store.verify().index.unindexed, 1);
    // As soon as the folder's time says it changed, it is listed again.
    set_mtime(&store.key_dir("a").unwrap(), SystemTime::now());
    assert_eq!(store.load(&hidden[..8]).unwrap().hash, hidden);
}

#[test]
fn writes_after_the_rebuild_are_found_in_their_listed_folders() {
    let (_tmp, store) = store();
    store.write(&trace("a", "one")).unwrap();
    settle_and_rebuild(&store);
    let later = store.write(&trace("a", "two")).unwrap();
    let new_key = store.write(&trace("d/e", "three")).unwrap();
    assert_eq!(store.load(&later.hash[..6]).unwrap().hash, later.hash);
    assert_eq!(store.load(&new_key.hash[..6]).unwrap().hash, new_key.hash);
    assert_eq!(store.keys().unwrap(), ["a", "d/e"]);
    let check = store.verify().index;
    assert!(
        check.changed_folders > 0 && check.unindexed == 0,
        "{check:?}"
    );

    // Files written behind the store's back are found too (their folder changed).
    let copied = {
        let (hash, bytes) = store.encode(&trace("a", "four")).unwrap();
        fs::write(
            store.key_dir("a").unwrap().join(format!("{hash}.json")),
            bytes,
        )
        .unwrap();
        hash
    };
    assert_eq!(store.load(&copied[..6]).unwrap().hash, copied);
}

#[test]
fn without_an_index_lookups_walk_the_store() {
    let (_tmp, store) = store();
    let a = store.write(&trace("a", "one")).unwrap();
    store.write(&trace("b", "two")).unwrap();
    settle_and_rebuild(&store);
    fs::remove_dir_all(store.dir().join(LEDGER_ROOT).join("index")).unwrap();
    assert_eq!(store.load(&a.hash[..8]).unwrap().hash, a.hash);
    assert_eq!(store.keys().unwrap(), ["a", "b"]);
    assert_eq!(store.list("a").unwrap().files.len(), 1);
    assert!(!store.verify().index.exists);
    // A store an older version wrote (no index): the same.
    let hidden = slip_in(&store, &trace("a", "three"));
    assert_eq!(store.load(&hidden[..8]).unwrap().hash, hidden);
}

#[test]
fn a_torn_index_makes_the_lookup_walk_the_store() {
    let (_tmp, store) = store();
    store.write(&trace("a", "one")).unwrap();
    settle_and_rebuild(&store);
    // Slipped in (so only a walk can find it), with an entry cut short, as a
    // crash after the rename could leave: the entry cannot say where it is,
    // so the lookup walks, and finds it.
    let hidden = slip_in(&store, &trace("a", "two"));
    let shard = store
        .dir()
        .join(LEDGER_ROOT)
        .join("index/hashes")
        .join(&hidden[..2]);
    fs::create_dir_all(&shard).unwrap();
    fs::write(shard.join(&hidden), "a").unwrap();
    assert_eq!(store.load(&hidden[..8]).unwrap().hash, hidden);

    // A torn list of folders: every lookup walks.
    fs::remove_file(shard.join(&hidden)).unwrap();
    let folders = store.dir().join(LEDGER_ROOT).join("index/folders");
    let text = fs::read_to_string(&folders).unwrap();
    fs::write(&folders, &text[..text.len() - 4]).unwrap();
    assert_eq!(store.load(&hidden[..8]).unwrap().hash, hidden);
    assert!(!store.verify().index.folders_recorded);
}

#[test]
fn a_stale_entry_is_ignored_and_a_rebuild_removes_it() {
    let (_tmp, store) = store();
    let gone = store.write(&trace("a", "one")).unwrap();
    let kept = store.write(&trace("a", "two")).unwrap();
    settle_and_rebuild(&store);
    // Removed behind the store's back, the folder's time put back: the
    // index still has the entry and vouches for the folder.
    let folder = store.key_dir("a").unwrap();
    let before = mtime(&folder);
    fs::remove_file(&gone.path).unwrap();
    set_mtime(&folder, before);
    assert!(matches!(
        store.load(&gone.hash[..8]),
        Err(CassetteError::NotFound { .. })
    ));
    assert_eq!(store.load(&kept.hash[..8]).unwrap().hash, kept.hash);
    assert_eq!(store.verify().index.stale, 1);
    let rebuilt = store.rebuild_index().unwrap();
    assert_eq!(rebuilt.removed, 1, "{rebuilt:?}");
    assert_eq!(store.verify().index.stale, 0);
}

/// A trace of key `a` and one of key `b` whose hashes share their first
/// four hex digits.
fn sharing_a_prefix(store: &Store) -> (Trace, Trace) {
    let mut seen = std::collections::HashMap::new();
    for i in 0.. {
        let key = if i % 2 == 0 { "a" } else { "b" };
        let t = trace(key, &format!("input {i}"));
        let (hash, _) = store.encode(&t).unwrap();
        if let Some(other) = seen.get(&hash[..4]).cloned() {
            let other: Trace = other;
            if other.key() != key {
                return if key == "b" { (other, t) } else { (t, other) };
            }
        }
        seen.insert(hash[..4].to_owned(), t);
    }
    unreachable!()
}

#[test]
fn a_shared_prefix_is_refused_through_the_index() {
    let (_tmp, store) = store();
    let (in_a, in_b) = sharing_a_prefix(&store);
    let one = store.write(&in_a).unwrap();
    let two = store.write(&in_b).unwrap();
    let prefix = one.hash[..4].to_owned();
    assert_eq!(&two.hash[..4], prefix);
    // Both in folders the index vouches for.
    settle_and_rebuild(&store);
    match store.load(&prefix) {
        Err(CassetteError::AmbiguousHash { matches, .. }) => {
            assert_eq!(matches, [one.path.clone(), two.path.clone()]);
        }
        other => panic!("{other:?}"),
    }
    // One in a folder vouched for, the other in a folder changed since.
    fs::remove_file(&two.path).unwrap();
    settle_and_rebuild(&store);
    assert_eq!(store.load(&prefix).unwrap().hash, one.hash);
    let two = store.write(&in_b).unwrap();
    assert!(matches!(
        store.load(&prefix),
        Err(CassetteError::AmbiguousHash { .. })
    ));
    // A longer prefix tells them apart.
    assert_eq!(store.load(&two.hash[..12]).unwrap().hash, two.hash);
}

#[test]
fn no_key_can_name_the_bookkeeping_folder() {
    for key in [
        ".tracedeck",
        ".TraceDeck",
        ".tracedeck/index",
        ".tracedeck/used/x",
    ] {
        match validate_key(key) {
            Err(CassetteError::InvalidKey {
                problem: KeyProblem::Bookkeeping { .. },
                ..
            }) => {}
            other => panic!("{key}: {other:?}"),
        }
    }
    // Below the top, the name is an ordinary segment.
    assert!(validate_key("a/.tracedeck").is_ok());
    let (_tmp, store) = store();
    assert!(matches!(
        store.write(&trace(".tracedeck", "x")),
        Err(CassetteError::InvalidKey { .. })
    ));
}

#[test]
fn superseding_removes_the_entry_of_the_old_cassette() {
    let (_tmp, store) = store();
    let old = store.write(&trace("a", "same input")).unwrap();
    let mut changed = trace("a", "same input");
    changed.spans[0].output = Some(json!("another answer").into());
    let new = store.write(&changed).unwrap();
    assert!(!old.path.exists());
    let check = store.verify().index;
    assert_eq!((check.unindexed, check.stale), (0, 0), "{check:?}");
    assert_eq!(store.load(&new.hash[..8]).unwrap().hash, new.hash);
}

#[test]
fn listing_uses_the_index_log_and_still_lists_what_it_does_not_know() {
    let (_tmp, store) = store();
    let store = store.with_recorded_at(true);
    let written = store.write(&trace("a", "one")).unwrap();
    // Written behind the store's back: not in the log, read from its file.
    let copied = slip_in(&store, &trace("a", "two"));
    let listed = store.list("a").unwrap();
    assert!(listed.errors.is_empty());
    let mut hashes: Vec<&str> = listed.files.iter().map(|f| f.hash.as_str()).collect();
    hashes.sort();
    let mut expected = vec![written.hash.as_str(), copied.as_str()];
    expected.sort();
    assert_eq!(hashes, expected);
    let from_log = listed
        .files
        .iter()
        .find(|f| f.hash == written.hash)
        .unwrap();
    assert_eq!(from_log.recorded_at, written.recorded_at);
    assert_eq!(from_log.bytes, fs::metadata(&written.path).unwrap().len());
    assert!(from_log.modified.is_some());
}

#[test]
fn a_copy_in_another_folder_is_found_as_the_walk_finds_it() {
    let (_tmp, store) = store();
    let a = store.write(&trace("a", "one")).unwrap();
    let b = store.dir().join("b");
    fs::create_dir_all(&b).unwrap();
    let copy = b.join(format!("{}.json", a.hash));
    fs::copy(&a.path, &copy).unwrap();
    // The walk (no list of folders yet) finds both and refuses.
    assert!(matches!(
        store.load(&a.hash[..8]),
        Err(CassetteError::AmbiguousHash { .. })
    ));
    // So does the index, whose entry names both folders.
    settle_and_rebuild(&store);
    match store.load(&a.hash) {
        Err(CassetteError::AmbiguousHash { matches, .. }) => {
            assert_eq!(matches, [a.path.clone(), copy.clone()]);
        }
        other => panic!("{other:?}"),
    }
    // The copy deleted (the folder's time put back, so the index still
    // vouches for it) and taken out of the index: the original remains.
    let before = mtime(&b);
    fs::remove_file(&copy).unwrap();
    set_mtime(&b, before);
    store.remove_from_index("b", &a.hash);
    assert_eq!(store.load(&a.hash[..8]).unwrap().hash, a.hash);
}

#[cfg(unix)]
#[test]
fn a_link_inside_the_index_is_never_followed() {
    let (tmp, store) = store();
    let a = store.write(&trace("a", "one")).unwrap();
    settle_and_rebuild(&store);
    // The shard holding `a`'s entry replaced by a link to a folder outside
    // the store: the lookup does not read through it (it walks, and finds
    // the cassette), and a rebuild does not write through it.
    let shard = store
        .dir()
        .join(LEDGER_ROOT)
        .join("index/hashes")
        .join(&a.hash[..2]);
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::remove_dir_all(&shard).unwrap();
    std::os::unix::fs::symlink(&outside, &shard).unwrap();
    assert_eq!(store.load(&a.hash[..8]).unwrap().hash, a.hash);
    let rebuilt = store.rebuild_index().unwrap();
    assert!(rebuilt.trusted_folders < rebuilt.folders, "{rebuilt:?}");
    assert_eq!(store.load(&a.hash[..8]).unwrap().hash, a.hash);
    assert!(fs::read_dir(&outside).unwrap().next().is_none());
}

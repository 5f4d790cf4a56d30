//! Issue 11, item 7: temporary files left by writers killed mid-write are
//! removed once stale — by `Store::open` and by
//! `Store::remove_stale_temp_files` — while a live writer's fresh temporary
//! file is kept, and every cassette that remains loads.
//!
//! The writer is this test binary run again as a child process (as
//! cassette_concurrency.rs does), killed with SIGKILL (`Child::kill`) as
//! soon as one of its temporary files is seen on disk.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tracedeck::cassette::{CassetteError, DEFAULT_STALE_TEMP_AGE, Store};

const CHILD_DIR: &str = "TRACEDECK_TEST_KILLED_WRITER_STORE";
const KILLS: usize = 6;

/// Every temporary file under `dir`, sorted.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<_> = common::tree_under(dir)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(".tmp-") && name.ends_with(".partial")
        })
        .map(|p| dir.join(p))
        .collect();
    found.sort();
    found
}

/// Starts a writer process on `dir` and kills it once it has a temporary
/// file on disk, that is, in the middle of a write.
fn kill_a_writer_mid_write(dir: &Path) {
    let before = temp_files(dir);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_cleanup::child_writes_until_killed",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if temp_files(dir).len() > before.len() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the writer exited on its own: {status}");
        }
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn set_age(path: &Path, age: Duration) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

fn assert_every_cassette_loads(store: &Store) {
    for key in store.keys().unwrap() {
        let found = store.traces(&key).unwrap();
        assert!(found.errors.is_empty(), "{:?}", found.errors);
    }
}

#[test]
fn temp_files_of_killed_writers_are_removed_once_stale_and_fresh_ones_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut kills = 0;
    // Each kill lands while a temporary file exists; most leave it behind
    // (a kill just after the rename leaves none), so kill until some do.
    while kills < KILLS || temp_files(dir).len() < 2 {
        assert!(kills < 100, "100 kills left fewer than 2 temporary files");
        kill_a_writer_mid_write(dir);
        kills += 1;
    }
    let left = temp_files(dir);
    // Fresh files may be a live writer's: opening the store keeps them.
    let store = Store::open(dir).unwrap();
    assert_eq!(temp_files(dir), left);
    let report = store.verify();
    let partial = report
        .problems()
        .filter(|p| matches!(p, CassetteError::PartialWrite { .. }))
        .count();
    assert_eq!(partial, left.len(), "{report}");

    // Age the first half: the explicit clean-up (`verify --fix`) removes exactly those.
    let (old, young) = left.split_at(left.len() / 2);
    for path in old {
        set_age(path, DEFAULT_STALE_TEMP_AGE + Duration::from_secs(1));
    }
    let cleanup = store.remove_stale_temp_files().unwrap();
    assert!(cleanup.errors.is_empty(), "{:?}", cleanup.errors);
    assert_eq!(cleanup.removed, old);
    assert_eq!(cleanup.kept, young);
    assert_eq!(temp_files(dir), young);

    // Age the rest: opening the store removes them.
    for path in young {
        set_age(path, DEFAULT_STALE_TEMP_AGE + Duration::from_secs(1));
    }
    let store = Store::open(dir).unwrap();
    assert!(temp_files(dir).is_empty());
    let report = store.verify();
    assert!(report.is_clean(), "{report}");
    assert_every_cassette_loads(&store);
}

#[test]
fn a_shorter_stale_age_is_honoured_and_non_temp_files_are_never_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path())
        .unwrap()
        .with_stale_temp_age(Duration::from_secs(60));
    let stored = store.write(&common::simple_trace("k", json!(1))).unwrap();
    let temp = tmp.path().join("k").join(".tmp-abc.partial");
    let readme = tmp.path().join("k").join("README.tmp");
    fs::write(&temp, b"{").unwrap();
    fs::write(&readme, b"notes").unwrap();
    for path in [&temp, &readme, &stored.path] {
        set_age(path, Duration::from_secs(120));
    }
    let cleanup = store.remove_stale_temp_files().unwrap();
    assert_eq!(cleanup.removed, [temp]);
    assert!(readme.exists() && stored.path.exists());
}

/// Run only as a child of the kill test: writes large traces into the
/// folder it is given, forever, until it is killed.
#[test]
#[ignore = "helper: run as a child process by temp_files_of_killed_writers_are_removed_once_stale_and_fresh_ones_kept"]
fn child_writes_until_killed() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        eprintln!("not started by the kill test: nothing to do");
        return;
    };
    let store = Store::open(dir).unwrap();
    // Large enough that a write (and its flush to disk) takes a while.
    let filler = "x".repeat(4 << 20);
    for i in 0.. {
        let key = ["a", "b/c"][i % 2];
        store
            .write(&common::simple_trace(
                key,
                json!({ "i": i, "filler": filler }),
            ))
            .unwrap();
    }
}

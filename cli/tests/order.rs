//! Issue 12, item 1: what the CLI prints about a store comes in the
//! cassettes' content order, never in file-time order, so it is
//! byte-identical after the files' modification times are scrambled (as a
//! `git clone` or a copy does). `ls` is left out: its NEWEST column shows a
//! time, not an order.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The repository root: the library's package, one level above `cli/`.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ lies inside the repository")
}

/// A copy of the committed example store, and every cassette file in it.
fn copy_of_examples() -> (tempfile::TempDir, PathBuf, Vec<PathBuf>) {
    fn copy(from: &Path, to: &Path, files: &mut Vec<PathBuf>) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target, files);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
                files.push(target);
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cassettes");
    let mut files = Vec::new();
    copy(&root().join("cassettes/examples"), &dir, &mut files);
    files.sort();
    (tmp, dir, files)
}

/// The standard output of `tracedeck --dir DIR ARGS`, which must succeed.
fn tracedeck(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tracedeck"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("TRACEDECK_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tracedeck {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Everything the order of a key's traces shows in.
fn outputs(dir: &Path) -> Vec<String> {
    [
        &["show", "chat-turn"][..],
        &["show", "chat-turn", "--json"],
        &["show", "support/triage"],
        &["stats"],
        &["stats", "--json"],
        &["verify"],
    ]
    .iter()
    .map(|args| tracedeck(dir, args))
    .collect()
}

fn set_mtime(path: &Path, time: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn scrambled_file_times_change_nothing_the_cli_prints() {
    let (_tmp, dir, files) = copy_of_examples();
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    // Oldest first in path order ...
    for (i, file) in files.iter().enumerate() {
        set_mtime(file, base + Duration::from_secs(i as u64));
    }
    let before = outputs(&dir);
    // ... then newest first, then pseudo-random past times.
    for (i, file) in files.iter().enumerate() {
        set_mtime(file, base - Duration::from_secs(i as u64));
    }
    assert_eq!(outputs(&dir), before, "reversed file times");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for file in &files {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        set_mtime(file, base - Duration::from_secs(state % 1_000_000_000));
    }
    assert_eq!(outputs(&dir), before, "random file times");
}

//! When git last committed the files of a folder: the recorded time `ls`
//! shows for cassettes, which hold no wall-clock time of their own
//! (recording the same session twice must give the same bytes).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time of the last commit that touched each file under `dir`, by
/// path (`dir` joined with the file's path below it), from one `git log`
/// call. Empty when `dir` is not in a git work tree or git cannot run:
/// callers then fall back to file times.
pub fn commit_times(dir: &Path) -> HashMap<PathBuf, SystemTime> {
    let output = Command::new("git")
        .args([
            "-c",
            "core.quotePath=false",
            "log",
            "--format=%x00%ct",
            "--name-only",
            "--relative",
            "--",
            ".",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(output) = output else {
        return HashMap::new();
    };
    if !output.status.success() {
        return HashMap::new();
    }
    parse_log(dir, &String::from_utf8_lossy(&output.stdout))
}

/// Reads `git log --format=%x00%ct --name-only` output: newest commit
/// first, so the first time seen for a file is its last commit.
fn parse_log(dir: &Path, log: &str) -> HashMap<PathBuf, SystemTime> {
    let mut times = HashMap::new();
    let mut current = None;
    for line in log.lines() {
        if let Some(stamp) = line.strip_prefix('\0') {
            current = stamp
                .trim()
                .parse::<u64>()
                .ok()
                .and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)));
        } else if !line.is_empty() {
            if let Some(time) = current {
                times.entry(dir.join(line)).or_insert(time);
            }
        }
    }
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_commit_of_each_file_wins() {
        let log = "\u{0}200\n\na/x.json\n\u{0}100\n\na/x.json\nb/y.json\n";
        let times = parse_log(Path::new("s"), log);
        assert_eq!(
            times.get(Path::new("s/a/x.json")),
            Some(&(UNIX_EPOCH + Duration::from_secs(200)))
        );
        assert_eq!(
            times.get(Path::new("s/b/y.json")),
            Some(&(UNIX_EPOCH + Duration::from_secs(100)))
        );
        assert_eq!(times.len(), 2);
    }
}

//! Issue 12, item 2: the quickstart honours the modes. Recording it again
//! (`TRACEDECK_MODE=record`) replaces its eight turns instead of adding
//! eight more, so its folder holds exactly eight cassettes after any number
//! of runs in any mode; `replay` records nothing, and `auto` records only
//! the turns that have no cassette.
//!
//! Real time over loopback (about 1.5 s a recording), as the example runs.

use crate::example as quickstart;

use std::collections::BTreeMap;
use std::path::Path;

use tracedeck::Mode;
use tracedeck::cassette::Store;

/// The cassettes of the quickstart's key, by file name, with their bytes.
fn cassettes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.join(quickstart::KEY))
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn run(dir: &Path, mode: Mode) -> (quickstart::Outcome, String) {
    let mut out = Vec::new();
    let outcome = quickstart::run(dir, quickstart::Source::Simulator, mode, &mut out)
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
    let text = String::from_utf8(out).unwrap();
    assert!(outcome.report.is_unchanged(), "{mode}: {text}");
    (outcome, text)
}

#[test]
fn recording_the_quickstart_again_replaces_its_eight_turns() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("quickstart");

    let (first, text) = run(&dir, Mode::Record);
    assert_eq!(first.recorded, 8, "{text}");
    let recorded = cassettes(&dir);
    assert_eq!(recorded.len(), 8);

    // Recorded again on the real clock: new bytes, the same eight questions.
    let (second, text) = run(&dir, Mode::Record);
    assert_eq!(second.recorded, 8, "{text}");
    let again = cassettes(&dir);
    assert_eq!(again.len(), 8, "{:?}", again.keys());
    assert_eq!(second.report.traces.len(), 8);
    let store = Store::open(&dir).unwrap();
    assert!(store.verify().is_clean(), "{}", store.verify());
    let questions: Vec<String> = store
        .traces(quickstart::KEY)
        .unwrap()
        .traces
        .iter()
        .map(|t| t.trace.root().input.as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = quickstart::QUESTIONS.map(String::from).to_vec();
    expected.sort();
    assert_eq!(questions, expected, "in content order, one per question");

    // Replay and Auto with every turn recorded write nothing.
    for mode in [Mode::Replay, Mode::Auto] {
        let (outcome, text) = run(&dir, mode);
        assert_eq!(outcome.recorded, 0, "{mode}: {text}");
        assert_eq!(cassettes(&dir), again, "{mode}");
    }

    // Auto records exactly the missing turn, beside the others.
    let (missing, _) = again.iter().next().unwrap();
    std::fs::remove_file(dir.join(quickstart::KEY).join(missing)).unwrap();
    let (outcome, text) = run(&dir, Mode::Auto);
    assert_eq!(outcome.recorded, 1, "{text}");
    let after = cassettes(&dir);
    assert_eq!(after.len(), 8);
    assert_eq!(
        after
            .keys()
            .filter(|name| again.contains_key(*name))
            .count(),
        7,
        "the seven others were kept as they were"
    );
}

#[test]
fn replay_mode_with_no_recordings_says_how_to_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("quickstart");
    let mut out = Vec::new();
    let err = quickstart::run(&dir, quickstart::Source::Simulator, Mode::Replay, &mut out)
        .expect_err("nothing to replay");
    assert!(err.to_string().contains("TRACEDECK_MODE=auto"), "{err}");
}

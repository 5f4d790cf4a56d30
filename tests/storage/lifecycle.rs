//! Issue 12, items 1, 2 and 10: the cassette lifecycle.
//!
//! 1. Every order a user sees comes from the cassettes' content (canonical
//!    root input, then hash), never from file modification times: scrambled
//!    mtimes give byte-identical listings and replay reports.
//! 2. Re-recording a root input supersedes its old cassette: a re-recorded
//!    changed session keeps its file count; an unchanged one keeps its
//!    files; `Auto` replaces exactly the trace it re-recorded live; writers
//!    racing on one root input leave at least one cassette.
//! 3. A new store folder gets `*.json -text` in a `.gitattributes`, and a
//!    CRLF-converted cassette is named as such, with the fix.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde_json::json;
use tracedeck::cassette::{CassetteError, STORE_GITATTRIBUTES, Store};
use tracedeck::replay::{CassetteModel, replay};
use tracedeck::testing::run_paused;
use tracedeck::{Mode, Model, ModelRequest, Recorder, Script, ScriptedModel, with_span};

const KEY: &str = "chat-turn";
const INPUTS: [&str; 6] = ["tokio?", "weather in Oslo", "ttft", "a", "zebra", "Lisbon"];

/// The application function replayed: the calls `common::run_session`
/// makes, for the root input `input`.
async fn session(input: String, model: Arc<dyn Model>) -> String {
    let mut parts = model
        .stream(ModelRequest::new("m").user(input.clone()))
        .await
        .expect("the stream opens");
    while let Some(part) = parts.next().await {
        part.expect("the stream does not fail");
    }
    model
        .generate(ModelRequest::new("m").user(format!("{input}, briefly")))
        .await
        .map(|r| r.text)
        .unwrap_or_default()
}

/// Records one session per input into `store`, under `KEY`, through `model`.
fn record(store: &Store, model: ScriptedModel, inputs: &[&str]) {
    let recorder = Recorder::new(model, store.sink());
    run_paused(async {
        for input in inputs {
            common::run_session(&recorder, KEY, input).await;
        }
        let report = recorder.flush().await;
        assert!(report.is_clean(), "{report:?}");
    });
}

/// A model like `common::echo_model` that answers `"<word> <prompt>"`.
fn answering(word: &'static str) -> ScriptedModel {
    ScriptedModel::from_fn(move |req| {
        let prompt = req
            .messages
            .last()
            .map(|m| m.text_content())
            .unwrap_or_default();
        Script::new()
            .open_after(Duration::from_millis(300))
            .part_after(
                Duration::from_millis(200),
                tracedeck::StreamPart::text(format!("{word} {prompt}")),
            )
            .part(tracedeck::StreamPart::finish(
                tracedeck::model::FinishReason::stop(),
            ))
    })
}

/// The cassette files of `key`, by name, with their bytes.
fn cassettes(store: &Store, key: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = store.key_dir(key).unwrap();
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Sets the modification time of every cassette of `key`: the `i`-th in
/// `order` gets `times(i)`.
fn set_mtimes(order: &[PathBuf], times: impl Fn(usize) -> SystemTime) {
    for (i, path) in order.iter().enumerate() {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(times(i))
            .unwrap();
    }
}

/// What a user sees of a key: its traces' hashes in order, and the replay
/// report's snapshot, as text.
fn what_users_see(store: &Store) -> (Vec<String>, String) {
    let found = store.traces(KEY).unwrap();
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    let hashes = found.traces.into_iter().map(|t| t.hash).collect();
    let report = run_paused(replay(store, KEY, session)).unwrap();
    assert!(report.is_unchanged(), "{report}");
    let snapshot = serde_json::to_string_pretty(&report.snapshot()).unwrap();
    (hashes, format!("{snapshot}\n{report}"))
}

#[test]
fn scrambled_file_times_change_no_order_a_user_sees() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("cassettes")).unwrap();
    record(&store, common::echo_model(), &INPUTS);
    let before = what_users_see(&store);
    assert_eq!(before.0.len(), INPUTS.len());

    // The content order: by canonical root input (a JSON string here, so by
    // the quoted text), then hash.
    let inputs: Vec<String> = store
        .traces(KEY)
        .unwrap()
        .traces
        .iter()
        .map(|t| t.trace.root().input.as_str().unwrap().to_owned())
        .collect();
    let mut sorted = inputs.clone();
    sorted.sort();
    assert_eq!(inputs, sorted);

    // Newest first, in the order listed: what a mtime order would flip.
    let listed: Vec<PathBuf> = store
        .traces(KEY)
        .unwrap()
        .traces
        .into_iter()
        .map(|t| t.path)
        .collect();
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    set_mtimes(&listed, |i| base + Duration::from_secs(1000 - i as u64));
    assert_eq!(what_users_see(&store), before, "reversed file times");

    // Pseudo-random past times, as a checkout or copy leaves them.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3 {
        let times: Vec<u64> = (0..listed.len())
            .map(|_| random() % 1_000_000_000)
            .collect();
        set_mtimes(&listed, |i| base - Duration::from_secs(times[i]));
        assert_eq!(what_users_see(&store), before, "file times {times:?}");
    }
}

#[test]
fn re_recording_a_changed_session_replaces_its_cassettes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    record(&store, answering("first:"), &INPUTS[..3]);
    let old = cassettes(&store, KEY);
    assert_eq!(old.len(), 3);

    // The same root inputs, different outputs.
    record(&store, answering("second:"), &INPUTS[..3]);
    let new = cassettes(&store, KEY);
    assert_eq!(new.len(), 3, "the folder keeps one cassette per root input");
    assert!(
        new.keys().all(|name| !old.contains_key(name)),
        "every cassette was replaced"
    );
    for bytes in new.values() {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(
            text.contains("second:") && !text.contains("first:"),
            "{text}"
        );
    }
    let found = store.traces(KEY).unwrap();
    assert!(found.errors.is_empty());
    assert_eq!(found.traces.len(), 3);
    assert!(store.verify().is_clean(), "{}", store.verify());

    // A new root input is added beside them, superseding nothing.
    record(&store, answering("second:"), &INPUTS[3..4]);
    assert_eq!(cassettes(&store, KEY).len(), 4);
    // Another key's cassette of the same root input is not touched.
    record_under(&store, "other-key", INPUTS[0]);
    assert_eq!(cassettes(&store, KEY).len(), 4);
    assert_eq!(cassettes(&store, "other-key").len(), 1);
}

fn record_under(store: &Store, key: &str, input: &str) {
    let recorder = Recorder::new(common::echo_model(), store.sink());
    run_paused(async {
        common::run_session(&recorder, key, input).await;
        assert!(recorder.flush().await.is_clean());
    });
}

#[test]
fn recording_an_unchanged_session_again_keeps_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    record(&store, common::echo_model(), &INPUTS);
    let first = cassettes(&store, KEY);
    for _ in 0..2 {
        record(&store, common::echo_model(), &INPUTS);
        assert_eq!(cassettes(&store, KEY), first);
    }
    // Through a fresh handle too (nothing cached).
    let again = Store::open(tmp.path()).unwrap();
    record(&again, common::echo_model(), &INPUTS);
    assert_eq!(cassettes(&again, KEY), first);
}

/// A session whose first prompt can change: `changed` adds a word to it.
async fn session_with(model: &CassetteModel, input: &str, changed: bool) {
    let prompt = if changed {
        format!("{input} (rephrased)")
    } else {
        input.to_owned()
    };
    with_span(KEY, input, async {
        let mut parts = model
            .stream(ModelRequest::new("m").user(prompt))
            .await
            .unwrap();
        while let Some(part) = parts.next().await {
            part.unwrap();
        }
        model
            .generate(ModelRequest::new("m").user(format!("{input}, briefly")))
            .await
            .unwrap()
            .text
    })
    .await;
}

#[test]
fn auto_mode_replaces_exactly_the_trace_it_re_recorded_live() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    record(&store, common::echo_model(), &INPUTS[..3]);
    let before = cassettes(&store, KEY);
    let by_input = |store: &Store| -> BTreeMap<String, String> {
        store
            .traces(KEY)
            .unwrap()
            .traces
            .into_iter()
            .map(|t| (t.trace.root().input.to_string(), t.hash))
            .collect()
    };
    let old = by_input(&store);

    // The program changed the prompt of one turn only: Auto serves the other
    // two and goes live for that one (its second call is still served).
    let model = CassetteModel::on(store.clone())
        .mode(Mode::Auto)
        .in_front_of(common::echo_model())
        .unwrap();
    run_paused(async {
        for input in &INPUTS[..3] {
            session_with(&model, input, *input == INPUTS[1]).await;
        }
        let report = model.flush().await;
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(
            report.delivered, 1,
            "only the trace that went live is written"
        );
    });
    let after = cassettes(&store, KEY);
    assert_eq!(after.len(), before.len(), "{:?}", after.keys());
    let new = by_input(&store);
    for input in &INPUTS[..3] {
        let changed = *input == INPUTS[1];
        let input = json!(input).to_string();
        if changed {
            assert_ne!(new[&input], old[&input], "{input} was re-recorded");
            let text = String::from_utf8(after[&format!("{}.json", new[&input])].clone()).unwrap();
            assert!(text.contains("(rephrased)"), "{text}");
        } else {
            assert_eq!(
                new[&input], old[&input],
                "{input} was served, not re-recorded"
            );
        }
    }
}

/// Writers racing on one root input (different bytes each) never leave it
/// without a cassette: each is a separate handle, as separate processes are.
#[test]
fn writers_racing_on_one_root_input_leave_at_least_one_cassette() {
    const WRITERS: usize = 6;
    let tmp = tempfile::tempdir().unwrap();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let dir = tmp.path();
    let threads: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let barrier = Arc::clone(&barrier);
            let dir = dir.to_path_buf();
            std::thread::spawn(move || {
                let store = Store::open(dir).unwrap();
                for round in 0..ROUNDS {
                    let trace = racing_trace(writer, round);
                    barrier.wait();
                    store.write(&trace).unwrap();
                    barrier.wait();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let store = Store::open(dir).unwrap();
    let found = store.traces("race").unwrap();
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    for round in 0..ROUNDS {
        let of_round = found
            .traces
            .iter()
            .filter(|t| t.trace.root().input == json!(round))
            .count();
        assert!(
            (1..=WRITERS).contains(&of_round),
            "round {round}: {of_round} cassettes"
        );
    }
    common::assert_only_cassettes(dir);
}

#[test]
fn a_new_store_folder_gets_a_gitattributes_and_an_existing_one_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let new = tmp.path().join("tests/cassettes");
    Store::open(&new).unwrap();
    let written = std::fs::read_to_string(new.join(".gitattributes")).unwrap();
    assert_eq!(written, STORE_GITATTRIBUTES);
    assert!(written.lines().any(|l| l == "*.json -text"), "{written}");
    // Opening it again changes nothing, even an edited file.
    std::fs::write(new.join(".gitattributes"), "*.json binary\n").unwrap();
    Store::open(&new).unwrap();
    assert_eq!(
        std::fs::read_to_string(new.join(".gitattributes")).unwrap(),
        "*.json binary\n"
    );
    // A folder that exists already gets none: it is the user's.
    let existing = tmp.path().join("mine");
    std::fs::create_dir(&existing).unwrap();
    let store = Store::open(&existing).unwrap();
    assert!(!existing.join(".gitattributes").exists());
    // The file is not a cassette: keys, verify and traces ignore it.
    let fresh = Store::open(tmp.path().join("fresh")).unwrap();
    record_under(&fresh, KEY, "hello");
    assert_eq!(fresh.keys().unwrap(), [KEY]);
    assert!(fresh.verify().is_clean(), "{}", fresh.verify());
    assert_eq!(fresh.verify().checked(), 1);
    assert!(store.keys().unwrap().is_empty());
}

#[test]
fn verify_recognizes_a_crlf_converted_cassette_and_says_how_to_fix_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    record_under(&store, KEY, "hello");
    record_under(&store, KEY, "edited");
    let stored = store.traces(KEY).unwrap().traces;
    let (converted, edited) = (&stored[1].path, &stored[0].path);
    // What git's core.autocrlf does on checkout.
    let lf = std::fs::read(converted).unwrap();
    let crlf = String::from_utf8(lf).unwrap().replace('\n', "\r\n");
    std::fs::write(converted, crlf).unwrap();
    // An edit that happens to add a CRLF is not a conversion.
    let mut bytes = std::fs::read(edited).unwrap();
    bytes.extend_from_slice(b"\r\n");
    std::fs::write(edited, bytes).unwrap();

    let report = store.verify();
    assert!(!report.is_clean());
    let problem_of = |path: &Path| {
        let file = report.files.iter().find(|f| f.path == path).unwrap();
        assert_eq!(file.problems.len(), 1, "{:?}", file.problems);
        file.problems[0].clone()
    };
    let problem = problem_of(converted);
    assert!(
        matches!(&problem, CassetteError::LineEndingsConverted { path, .. } if path == converted),
        "{problem:?}"
    );
    let text = problem.to_string();
    for expected in [
        "CRLF",
        "*.json -text",
        ".gitattributes",
        "git rm --cached -r",
        "git checkout HEAD --",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(report.to_string().contains("*.json -text"), "{report}");
    assert!(
        matches!(problem_of(edited), CassetteError::HashMismatch { .. }),
        "an edited file is a plain hash mismatch"
    );
    // Loading says the same.
    let found = store.traces(KEY).unwrap();
    assert!(
        found
            .errors
            .iter()
            .any(|e| matches!(e, CassetteError::LineEndingsConverted { .. }))
    );

    // Converted back, it is whole again.
    let crlf = std::fs::read(converted).unwrap();
    std::fs::write(
        converted,
        String::from_utf8(crlf).unwrap().replace("\r\n", "\n"),
    )
    .unwrap();
    assert!(store.load(&stored[1].hash).is_ok());
}

const CHILD_DIR: &str = "TRACEDECK_TEST_LIFECYCLE_STORE";
const CHILD_INDEX: &str = "TRACEDECK_TEST_LIFECYCLE_INDEX";
const ROUNDS: usize = 60;

/// The trace writer `writer` writes for root input `round`: the same root
/// input as every other writer's, other bytes.
fn racing_trace(writer: usize, round: usize) -> tracedeck::Trace {
    let mut trace = common::simple_trace("race", json!(round));
    trace.spans[0].output = Some(json!(format!("process {writer}")).into());
    trace
}

#[test]
fn processes_racing_on_one_root_input_leave_at_least_one_cassette() {
    const PROCESSES: usize = 3;
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|index| {
            std::process::Command::new(&exe)
                .args([
                    "lifecycle::child_process_rewriter",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR, tmp.path())
                .env(CHILD_INDEX, index.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "a writer process failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = Store::open(tmp.path()).unwrap();
    let found = store.traces("race").unwrap();
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    for round in 0..ROUNDS {
        let of_round = found
            .traces
            .iter()
            .filter(|t| t.trace.root().input == json!(round))
            .count();
        assert!(
            (1..=PROCESSES).contains(&of_round),
            "round {round}: {of_round} cassettes"
        );
    }
    common::assert_only_cassettes(tmp.path());
}

/// Run only as a child of `processes_racing_on_one_root_input_leave_at_least_one_cassette`.
#[test]
#[ignore = "helper: run as a child process by processes_racing_on_one_root_input_leave_at_least_one_cassette"]
fn child_process_rewriter() {
    let (Ok(dir), Ok(index)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_INDEX)) else {
        eprintln!("not started by processes_racing_on_one_root_input_leave_at_least_one_cassette");
        return;
    };
    let index: usize = index.parse().unwrap();
    let store = Store::open(dir).unwrap();
    for round in 0..ROUNDS {
        // Each root input twice, so writers overlap on it for longer.
        store.write(&racing_trace(index, round)).unwrap();
        store.write(&racing_trace(index, round)).unwrap();
    }
}

//! Nothing lost by forgetting `flush()` (issue 12, item 7).
//!
//! A program records 16 traces through a `Recorder` over a store sink and
//! exits without calling `flush()`. Dropping the last handle of the sink
//! waits (bounded) for its writer, so every trace is on disk and no
//! temporary file is left; when the writes fail, one line on stderr says
//! how many traces were lost and why.
//!
//! The program is a real second process: this test binary again, running
//! the child test named by the parent, which ends the process with
//! `std::process::exit` right after dropping the recorder (as `main`
//! returning does), so a writer thread still at work would be cut short.

use std::path::Path;
use std::process::{Command, Output};

use std::sync::Arc;

use tracedeck::sink::SinkError;
use tracedeck::testing::run_paused;
use tracedeck::{
    Model, ModelRequest, Recorder, Script, ScriptedModel, Sink, Store, Trace, with_span,
};

/// Tells the child which folder to record into (and that it is the child).
const CHILD_DIR: &str = "TRACEDECK_TEST_DROP_DIR";
const CHILD_TEST: &str = "sink_drop::dropping_child_records_16_traces_and_exits_without_flush";
const KEY: &str = "forgot/flush";
const TRACES: usize = 16;

/// Tells the refusing child to run.
const REFUSING_CHILD: &str = "TRACEDECK_TEST_DROP_REFUSING";
const REFUSING_TEST: &str =
    "sink_drop::refusing_child_records_into_a_sink_that_refuses_and_never_flushes";

fn run_child(dir: &Path) -> Output {
    run(CHILD_TEST, CHILD_DIR, dir.as_os_str())
}

fn run(test: &str, var: &str, value: &std::ffi::OsStr) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, value)
        .output()
        .unwrap()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The child: records [`TRACES`] traces, drops the recorder without
/// flushing, and exits at once. Passes trivially unless the parent set
/// [`CHILD_DIR`].
#[test]
fn dropping_child_records_16_traces_and_exits_without_flush() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    // Each file synced to disk, as by default: the writer is slower than the calls.
    let store = Store::open(dir).unwrap();
    let recorder = Recorder::new(ScriptedModel::new(Script::text("ok")), store.sink());
    run_paused(async {
        for turn in 0..TRACES {
            with_span(KEY, turn, async {
                recorder
                    .generate(ModelRequest::new("m").user(format!("turn {turn}")))
                    .await
                    .unwrap();
            })
            .await;
        }
    });
    drop(recorder);
    drop(store);
    println!("child done");
    std::process::exit(0);
}

#[test]
fn a_program_that_never_flushes_still_leaves_every_trace_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_child(dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("child done"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("lost"), "nothing was lost: {stderr}");

    let store = Store::open(dir.path()).unwrap();
    let traces = store.traces(KEY).unwrap().traces;
    assert_eq!(traces.len(), TRACES, "{stderr}");
    let leftovers: Vec<_> = files(dir.path())
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn when_the_writes_fail_one_line_on_stderr_says_how_many_were_lost_and_why() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the key's folder must go: every write fails.
    std::fs::create_dir_all(dir.path().join("forgot")).unwrap();
    std::fs::write(dir.path().join(KEY), "not a folder").unwrap();

    let output = run_child(dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("child done"), "{stdout}\n{stderr}");

    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tracedeck:"))
        .collect();
    let [line] = lines.as_slice() else {
        panic!("expected one line from tracedeck on stderr:\n{stderr}");
    };
    assert!(
        line.contains("16 trace(s) lost") && line.contains("without flush()"),
        "{line}"
    );
    assert!(line.contains("16 failed to write, first:"), "{line}");
    assert!(
        line.contains(KEY),
        "the first error names the trace: {line}"
    );
}

/// A sink that refuses every trace, as a full queue does.
struct Refusing;

impl Sink for Refusing {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        Err(SinkError::QueueFull {
            key: trace.key().to_owned(),
        })
    }
}

/// The child: three traces refused by the sink, and no flush to report
/// them. Passes trivially unless the parent set [`REFUSING_CHILD`].
#[test]
fn refusing_child_records_into_a_sink_that_refuses_and_never_flushes() {
    if std::env::var_os(REFUSING_CHILD).is_none() {
        return;
    }
    let recorder = Recorder::new(ScriptedModel::new(Script::text("ok")), Refusing);
    run_paused(async {
        for turn in 0..3 {
            with_span("refused", turn, async {
                recorder.generate(ModelRequest::new("m")).await.unwrap();
            })
            .await;
        }
    });
    drop(recorder);
    println!("child done");
    std::process::exit(0);
}

#[test]
fn traces_the_sink_refused_and_no_flush_reported_are_named_on_stderr() {
    let output = run(REFUSING_TEST, REFUSING_CHILD, "1".as_ref());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("child done"), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tracedeck:"))
        .collect();
    let [line] = lines.as_slice() else {
        panic!("expected one line from tracedeck on stderr:\n{stderr}");
    };
    assert!(line.contains("3 trace(s) lost"), "{line}");
    assert!(line.contains("sink queue full: trace `refused`"), "{line}");
}

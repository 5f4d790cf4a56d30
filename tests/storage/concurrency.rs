//! Issue 3, point 3: concurrent writers — 8 tasks, and separately 4 OS
//! processes — write 1,000 traces into one folder; all load and verify, and
//! no partial or temporary file remains.
//!
//! Every writer also writes the same few shared traces, so writers race on
//! identical file names ("an identical existing file is success") and on
//! creating the same key folders.

use crate::common::{self, TempStore};

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::json;
use tracedeck::cassette::Store;
use tracedeck::{Sink, Trace};

const TOTAL: usize = 1_000;
const SHARED: usize = 16;
const KEYS: [&str; 4] = [
    "chat",
    "chat/fast",
    "agents/planner",
    "agents/planner/tools",
];

/// The `i`-th distinct trace of a run.
fn distinct(i: usize) -> Trace {
    common::simple_trace(KEYS[i % KEYS.len()], json!({ "writer_trace": i }))
}

/// The `i`-th trace every writer writes.
fn shared(i: usize) -> Trace {
    common::simple_trace(KEYS[i % KEYS.len()], json!({ "shared": i }))
}

/// Checks the store holds exactly the distinct and shared traces, every one
/// loads, verify is clean, and no other file exists.
fn assert_complete(store: &Store) {
    let mut inputs = BTreeSet::new();
    let mut files = 0;
    for key in store.keys().unwrap() {
        let found = store.traces(&key).unwrap();
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        files += found.traces.len();
        inputs.extend(
            found
                .traces
                .into_iter()
                .map(|s| s.trace.root().input.to_string()),
        );
    }
    let expected: BTreeSet<_> = (0..TOTAL)
        .map(|i| distinct(i).root().input.to_string())
        .chain((0..SHARED).map(|i| shared(i).root().input.to_string()))
        .collect();
    assert_eq!(files, TOTAL + SHARED);
    assert_eq!(inputs, expected);
    let report = store.verify();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked(), TOTAL + SHARED);
    common::assert_only_cassettes(store.dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_write_1000_traces_into_one_folder() {
    let store = TempStore::new();
    let tasks: Vec<_> = (0..8)
        .map(|writer| {
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                for i in (writer..TOTAL).step_by(8) {
                    store.write(&distinct(i)).unwrap();
                    if i % 64 < SHARED {
                        store.write(&shared(i % 64)).unwrap();
                    }
                }
                for i in 0..SHARED {
                    store.write(&shared(i)).unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_complete(&store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_queue_1000_traces_through_one_sink() {
    let store = TempStore::new();
    // Room for every trace: this test is about concurrent accepts and
    // writes, not about a full queue (see cassette_sink.rs for that).
    let sink = store.sink_with_capacity(TOTAL + 8 * SHARED);
    let tasks: Vec<_> = (0..8)
        .map(|writer| {
            let sink = sink.clone();
            tokio::spawn(async move {
                for i in (writer..TOTAL).step_by(8) {
                    sink.accept(Arc::new(distinct(i))).unwrap();
                    tokio::task::yield_now().await;
                }
                for i in 0..SHARED {
                    sink.accept(Arc::new(shared(i))).unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(sink.flush().await.is_empty());
    let stats = sink.stats();
    assert_eq!(stats.accepted, (TOTAL + 8 * SHARED) as u64);
    assert_eq!(stats.written, stats.accepted);
    assert_eq!(stats.pending, 0);
    assert_complete(&store);
}

const CHILD_DIR: &str = "TRACEDECK_TEST_CHILD_STORE";
const CHILD_INDEX: &str = "TRACEDECK_TEST_CHILD_INDEX";
const PROCESSES: usize = 4;

#[test]
fn four_processes_write_1000_traces_into_one_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // Start every child at once, then wait for all.
    let children: Vec<_> = (0..PROCESSES)
        .map(|index| {
            Command::new(&exe)
                .args([
                    "concurrency::child_process_writer",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR, tmp.path())
                .env(CHILD_INDEX, index.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "a writer process failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Catches a filter that matched nothing (which would also "succeed").
        assert!(
            stdout.contains("1 passed"),
            "the writer did not run: {stdout}"
        );
    }
    assert_complete(&Store::open(tmp.path()).unwrap());
}

/// Run only as a child of `four_processes_write_1000_traces_into_one_folder`:
/// writes its quarter of the traces (half through a recorder-style sink,
/// half directly) plus the shared ones, into the folder it is given.
#[test]
#[ignore = "helper: run as a child process by four_processes_write_1000_traces_into_one_folder"]
fn child_process_writer() {
    let (Ok(dir), Ok(index)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_INDEX)) else {
        eprintln!("not started by four_processes_write_1000_traces_into_one_folder: nothing to do");
        return;
    };
    let index: usize = index.parse().unwrap();
    let store = Store::open(dir).unwrap();
    let sink = store.sink_with_capacity(TOTAL);
    for i in (index..TOTAL).step_by(PROCESSES) {
        if i % 2 == 0 {
            sink.accept(Arc::new(distinct(i))).unwrap();
        } else {
            store.write(&distinct(i)).unwrap();
        }
    }
    for i in 0..SHARED {
        store.write(&shared(i)).unwrap();
    }
    assert!(sink.flush_blocking().is_empty());
}

//! The store's sink: accept never waits (a full queue is a counted
//! `QueueFull`), it needs no tokio runtime, it outlives runtimes, and a
//! clean flush means every accepted trace is on disk.

use crate::common::{self, TempStore};

use std::sync::Arc;

use serde_json::json;
use tracedeck::cassette::{DEFAULT_QUEUE_CAPACITY, Store, StoreSinkStats};
use tracedeck::sink::SinkError;
use tracedeck::testing::run_paused;
use tracedeck::{Recorder, Sink, Trace};

#[test]
fn a_full_queue_refuses_at_once_and_is_counted() {
    let store = TempStore::new();
    let sink = store.sink_with_capacity(1);
    assert_eq!(sink.capacity(), 1);
    // Each trace carries 1 MB, so writing one takes the writer many
    // milliseconds while ten accepts take microseconds: with room for one
    // trace in the queue, some accepts must find it full.
    let payload = "x".repeat(1 << 20);
    let traces: Vec<Arc<Trace>> = (0..10)
        .map(|i| {
            Arc::new(common::simple_trace(
                "big",
                json!({ "i": i, "payload": payload }),
            ))
        })
        .collect();
    let outcomes: Vec<Result<(), SinkError>> =
        traces.iter().map(|t| sink.accept(Arc::clone(t))).collect();

    let full = outcomes
        .iter()
        .filter(|o| matches!(o, Err(SinkError::QueueFull { key }) if key == "big"))
        .count();
    let accepted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(full + accepted, 10, "{outcomes:?}");
    assert!(full >= 1, "the queue never filled: {outcomes:?}");
    assert!(accepted >= 1);

    // Nothing accepted is lost.
    assert!(sink.flush_blocking().is_empty());
    let stats = sink.stats();
    assert_eq!(
        stats,
        StoreSinkStats {
            accepted: accepted as u64,
            written: accepted as u64,
            failed: 0,
            queue_full: full as u64,
            refused: 0,
            pending: 0,
        }
    );
    let stored = store.traces("big").unwrap();
    assert_eq!(stored.traces.len(), accepted);
    for (trace, outcome) in traces.iter().zip(&outcomes) {
        let on_disk = stored.traces.iter().any(|s| s.trace == **trace);
        assert_eq!(on_disk, outcome.is_ok());
    }
    common::assert_only_cassettes(store.path());
}

#[test]
fn accept_and_flush_need_no_tokio_runtime() {
    assert!(tokio::runtime::Handle::try_current().is_err());
    let store = TempStore::new();
    let sink = store.sink();
    assert_eq!(sink.capacity(), DEFAULT_QUEUE_CAPACITY);
    for i in 0..20 {
        sink.accept(Arc::new(common::simple_trace("sync", json!(i))))
            .unwrap();
    }
    assert!(sink.flush_blocking().is_empty());
    assert_eq!(store.traces("sync").unwrap().traces.len(), 20);
    // From another plain thread, too.
    let from_thread = sink.clone();
    std::thread::spawn(move || {
        from_thread
            .accept(Arc::new(common::simple_trace("sync", json!("thread"))))
            .unwrap();
    })
    .join()
    .unwrap();
    assert!(sink.flush_blocking().is_empty());
    assert_eq!(store.traces("sync").unwrap().traces.len(), 21);
}

#[test]
fn one_sink_serves_recorders_across_runtimes() {
    let store = TempStore::new();
    let sink = Arc::new(store.sink());
    // Each run_paused builds and drops its own runtime, like proptest cases do.
    for round in 0..3 {
        let model = Recorder::with_shared_sink(common::echo_model(), sink.clone());
        run_paused(async {
            common::run_session(&model, "rounds", &format!("round {round}")).await;
            let report = model.flush().await;
            assert!(report.is_clean(), "{report:?}");
            assert_eq!(report.delivered, 1);
        });
    }
    assert_eq!(store.traces("rounds").unwrap().traces.len(), 3);
}

#[test]
fn each_failure_is_reported_once_with_its_path() {
    let store = TempStore::new();
    let blocker = store.path().join("blocked");
    std::fs::write(&blocker, "a file where the key folder goes").unwrap();
    let sink = store.sink();
    for i in 0..3 {
        sink.accept(Arc::new(common::simple_trace("blocked", json!(i))))
            .unwrap();
        sink.accept(Arc::new(common::simple_trace("fine", json!(i))))
            .unwrap();
    }
    let errors = sink.flush_blocking();
    assert_eq!(errors.len(), 3, "{errors:?}");
    for err in &errors {
        assert!(
            matches!(err, SinkError::Write { key, message, .. }
                if key == "blocked" && message.contains(&blocker.display().to_string())),
            "{err:?}"
        );
    }
    assert!(sink.flush_blocking().is_empty(), "reported once");
    let stats = sink.stats();
    assert_eq!((stats.accepted, stats.written, stats.failed), (6, 3, 3));
    assert_eq!(store.traces("fine").unwrap().traces.len(), 3);
    assert!(format!("{sink:?}").contains("failed: 3"));
}

#[test]
fn a_malformed_trace_is_refused_at_accept() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Store::open(tmp.path()).unwrap().sink();
    let err = sink
        .accept(Arc::new(Trace { spans: Vec::new() }))
        .unwrap_err();
    assert!(
        matches!(&err, SinkError::Write { message, .. } if message.contains("no spans")),
        "{err:?}"
    );
    assert_eq!(sink.stats().refused, 1);
    assert_eq!(sink.stats().accepted, 0);
    assert!(sink.flush_blocking().is_empty());
}

#[tokio::test(start_paused = true)]
async fn flush_waits_for_every_trace_accepted_before_it() {
    let store = TempStore::new();
    let sink = store.sink();
    for i in 0..200 {
        sink.accept(Arc::new(common::simple_trace("many", json!(i))))
            .unwrap();
    }
    assert!(sink.flush().await.is_empty());
    // No polling: right after flush, all 200 are there.
    assert_eq!(sink.stats().pending, 0);
    assert_eq!(store.traces("many").unwrap().traces.len(), 200);
}

#[test]
fn recorders_on_clones_of_one_sink_store_a_shared_trace_once() {
    use tracedeck::{Model, ModelRequest, with_span};
    let store = TempStore::new();
    let sink = store.sink();
    let first = Recorder::new(common::echo_model(), sink.clone()).key("first");
    let second = Recorder::new(common::echo_model(), sink.clone()).key("second");
    run_paused(async {
        with_span("both", "in", async {
            first
                .generate(ModelRequest::new("m").user("a"))
                .await
                .unwrap();
            second
                .generate(ModelRequest::new("m").user("b"))
                .await
                .unwrap();
        })
        .await;
        assert!(first.flush().await.is_clean());
        assert!(second.flush().await.is_clean());
    });
    assert_eq!(sink.stats().accepted, 1);
    let stored = store.traces("both").unwrap();
    assert_eq!(stored.traces.len(), 1);
    let keys: Vec<&str> = stored.traces[0]
        .trace
        .spans
        .iter()
        .map(|s| s.key.as_str())
        .collect();
    assert_eq!(keys, ["both", "first", "second"]);
}

//! Bench 6: what the production sinks cost a call, on the calling task.
//!
//! A non-streaming call through a `Recorder` around an in-memory model, each
//! call the root of its own trace, delivered to:
//!
//! - `none`: a sink that drops the trace (the baseline: the recorder's own
//!   work, no queue);
//! - `store`: a `cassette::StoreSink` over a `Store` in a temporary folder;
//! - `otel`: an `export::OtelSink` over the SDK's `InMemorySpanExporter`.
//!
//! Both real sinks are queued: `accept` only hands the trace to a writer
//! thread. So calls are timed in batches of `BATCH`, and between batches the
//! recorder is flushed *outside* the timed stretch (every trace written or
//! exported, none lost: the bench stops if one is). Disk and memory stay
//! flat: every call has the same root input, so each new cassette
//! supersedes the last (the store keeps one file), and the exporter's spans
//! are dropped after each flush. The writer thread still runs while a batch
//! is timed, on the machine's other core.
//!
//! Target (issue 14): the OpenTelemetry sink adds no more per call than the
//! store sink.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use tracedeck::cassette::Store;
use tracedeck::export::OtelSink;
use tracedeck::{Model, ModelRequest, Recorder};

use common::memory_model::MemoryModel;
use common::report::Report;
use common::{Discard, chat_request, current_thread_runtime};

/// Parts in the model's answer (text of 97 tokens).
const PARTS: usize = 100;

/// Calls per timed stretch; the queues hold all of them, so no call ever
/// meets a full queue.
const BATCH: u64 = 256;

fn calls(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let req = chat_request();
    let model = MemoryModel::streaming(PARTS);

    let dir = tempfile::tempdir().expect("a temporary folder for the store");
    // No fsync per file: the writer keeps up between batches, and the flush
    // (untimed) is not what this bench measures.
    let store = Store::open(dir.path())
        .expect("opening the store")
        .with_sync(false);
    let exporter = InMemorySpanExporter::default();

    let none = Recorder::new(model.clone(), Discard);
    let stored = Recorder::new(model.clone(), store.sink_with_capacity(BATCH as usize * 2));
    let otel = Recorder::new(model.clone(), OtelSink::new(exporter.clone()));

    let mut group = c.benchmark_group("sink_call");
    // A small sample keeps the run short on a shared machine (each sample
    // also pays the untimed flushes).
    group.sample_size(20);
    group.bench_function(BenchmarkId::from_parameter("none"), |b| {
        b.iter_custom(|iters| rt.block_on(recorded_calls(&none, iters, &req, || {})))
    });
    group.bench_function(BenchmarkId::from_parameter("store"), |b| {
        b.iter_custom(|iters| rt.block_on(recorded_calls(&stored, iters, &req, || {})))
    });
    group.bench_function(BenchmarkId::from_parameter("otel"), |b| {
        b.iter_custom(|iters| rt.block_on(recorded_calls(&otel, iters, &req, || exporter.reset())))
    });
    group.finish();
}

/// Makes `iters` non-streaming calls through `recorder`, timing only the
/// calls: after each batch it flushes (checking nothing was lost) and runs
/// `clear`, both untimed.
async fn recorded_calls<M: Model>(
    recorder: &Recorder<M>,
    iters: u64,
    req: &ModelRequest,
    mut clear: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        let reqs: Vec<ModelRequest> = (0..batch).map(|_| req.clone()).collect();
        let start = Instant::now();
        for req in reqs {
            let response = recorder
                .generate(req)
                .await
                .expect("in-memory calls answer");
            std::hint::black_box(response);
        }
        total += start.elapsed();
        let report = recorder.flush().await;
        assert!(report.is_clean(), "a trace was lost: {:?}", report.errors);
        clear();
        left -= batch;
    }
    total
}

fn main() {
    let mut report = Report::start("bench 6, production sinks per call");
    let mut criterion = Criterion::default().configure_from_args();
    calls(&mut criterion);
    criterion.final_summary();

    let store = report.compare(
        "StoreSink vs no sink",
        "sink_call/none",
        "sink_call/store",
        None,
    );
    let otel = report.compare(
        "OtelSink vs no sink",
        "sink_call/none",
        "sink_call/otel",
        None,
    );
    if let (Some(store), Some(otel)) = (store, otel) {
        report.note(&format!(
            "OtelSink / StoreSink per call: {:.3} (added per call: OTel {} vs store {})",
            otel.measured / store.measured,
            common::report::human(otel.added()),
            common::report::human(store.added()),
        ));
        report.target(
            "OtelSink adds no more per call than StoreSink",
            otel.added() <= store.added(),
        );
    }
    report.print();
}

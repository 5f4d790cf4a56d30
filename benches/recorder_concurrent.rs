//! Bench 3: attribution under load.
//!
//! 10,000 concurrent tasks on a two-worker multi-thread runtime, each making
//! one streaming call. Bare: the tasks call an in-memory model directly.
//! Recorded: each task runs inside its own `with_span` and calls through one
//! shared `Recorder`, so the recorder captures 10,000 parents concurrently
//! and builds 10,000 traces. The model hands control back to the runtime
//! before every part, so all calls are in flight at once and their parts
//! interleave across both workers.
//!
//! Before timing, one recorded round is checked: every call landed under its
//! own task's span, with all its parts.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use tracedeck::span::SpanKind;
use tracedeck::{Collector, Model, ModelRequest, Recorder, Sink, with_span};

use common::memory_model::MemoryModel;
use common::report::Report;
use common::{Discard, chat_request, drain};

/// Concurrent calls per round.
const CALLS: usize = 10_000;
/// Parts per call.
const PARTS: usize = 10;
/// Runtime workers: the machine's two cores.
const WORKERS: usize = 2;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_time()
        .build()
        .expect("building a multi-thread runtime")
}

/// One request per call, each naming its call so attribution can be checked.
fn requests() -> Vec<ModelRequest> {
    (0..CALLS)
        .map(|i| chat_request().user(format!("call {i}")))
        .collect()
}

/// Runs every request as its own task against the bare model.
async fn bare_round(model: &Arc<MemoryModel>, reqs: Vec<ModelRequest>) {
    let tasks: Vec<_> = reqs
        .into_iter()
        .map(|req| {
            let model = Arc::clone(model);
            tokio::spawn(async move { drain(model.stream(req).await?).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task ran").expect("call ok"), PARTS);
    }
}

/// Runs every request as its own task, inside its own span, through the
/// shared recorder.
async fn recorded_round(model: &Arc<Recorder<MemoryModel>>, reqs: Vec<ModelRequest>) {
    let tasks: Vec<_> = reqs
        .into_iter()
        .enumerate()
        .map(|(i, req)| {
            let model = Arc::clone(model);
            tokio::spawn(with_span("turn", i, async move {
                drain(model.stream(req).await?).await
            }))
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task ran").expect("call ok"), PARTS);
    }
}

fn recorder(sink: impl Sink) -> Arc<Recorder<MemoryModel>> {
    Arc::new(Recorder::new(
        MemoryModel::streaming(PARTS).yielding(),
        sink,
    ))
}

/// One recorded round into a collector: each task's call is the only child
/// of that task's own span, with the task's own request and every part.
fn check_attribution(rt: &tokio::runtime::Runtime) {
    let traces = Collector::new();
    let model = recorder(traces.clone());
    rt.block_on(recorded_round(&model, requests()));
    let traces = traces.traces();
    assert_eq!(traces.len(), CALLS, "one trace per task");
    let mut seen = vec![false; CALLS];
    for trace in &traces {
        let root = trace.root();
        let i = root.input.as_u64().expect("the task's index") as usize;
        assert!(
            !std::mem::replace(&mut seen[i], true),
            "task {i} traced once"
        );
        let [_, call] = &trace.spans[..] else {
            panic!("task {i}: expected its span and one call, got {trace:#?}");
        };
        assert_eq!(call.kind, SpanKind::Llm);
        assert_eq!(call.parent, Some(root.id), "task {i}: call under its task");
        let asked = call
            .request()
            .expect("a request")
            .messages
            .last()
            .unwrap()
            .text_content();
        assert_eq!(asked, format!("call {i}"), "task {i}: its own request");
        assert_eq!(call.parts.len(), PARTS, "task {i}: every part kept");
    }
}

fn concurrent(c: &mut Criterion) {
    let rt = runtime();
    check_attribution(&rt);
    let bare = Arc::new(MemoryModel::streaming(PARTS).yielding());
    let recorded = recorder(Discard);

    let mut group = c.benchmark_group("concurrent_calls");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CALLS as u64));
    group.bench_function(BenchmarkId::from_parameter("bare"), |b| {
        b.iter_custom(|iters| timed_rounds(iters, |reqs| rt.block_on(bare_round(&bare, reqs))))
    });
    group.bench_function(BenchmarkId::from_parameter("recorded"), |b| {
        b.iter_custom(|iters| {
            timed_rounds(iters, |reqs| rt.block_on(recorded_round(&recorded, reqs)))
        })
    });
    group.finish();
}

/// Times `iters` rounds; each round's requests are built before its clock starts.
fn timed_rounds(iters: u64, mut round: impl FnMut(Vec<ModelRequest>)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let reqs = requests();
        let start = Instant::now();
        round(reqs);
        total += start.elapsed();
    }
    total
}

fn main() {
    let mut report = Report::start("bench 3, attribution under load");
    let mut criterion = Criterion::default().configure_from_args();
    concurrent(&mut criterion);
    criterion.final_summary();

    report.compare(
        &format!("{CALLS} concurrent calls × {PARTS} parts, {WORKERS} workers"),
        "concurrent_calls/bare",
        "concurrent_calls/recorded",
        Some((CALLS as f64, "call")),
    );
    report.rate(
        "recorded calls",
        "concurrent_calls/recorded",
        CALLS as f64,
        "calls",
    );
    report.print();
}

//! Bench 2: what recording adds to one call.
//!
//! - `generate`: a non-streaming call through a `Recorder` around an
//!   in-memory model, against the bare model (each call the root of its own
//!   trace, delivered to a sink that drops it).
//! - `first_part`: the time from calling `stream` to the first part reaching
//!   the consumer, recorded against bare. Only that stretch is timed: the
//!   rest of the stream is dropped after the clock stops.
//!
//! Target: the first part delayed by under 2 µs.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use futures::StreamExt;
use tracedeck::{Model, ModelRequest, Recorder};

use common::memory_model::MemoryModel;
use common::report::Report;
use common::{Discard, chat_request, current_thread_runtime, time_calls};

/// Parts in the model's answer (text of 97 tokens for `generate`).
const PARTS: usize = 100;

fn calls(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let req = chat_request();
    let bare = MemoryModel::streaming(PARTS);
    let recorded = Recorder::new(bare.clone(), Discard);

    let mut group = c.benchmark_group("generate");
    group.bench_function(BenchmarkId::from_parameter("bare"), |b| {
        b.iter_custom(|iters| rt.block_on(generate_calls(&bare, iters, &req)))
    });
    group.bench_function(BenchmarkId::from_parameter("recorded"), |b| {
        b.iter_custom(|iters| rt.block_on(generate_calls(&recorded, iters, &req)))
    });
    group.finish();

    let mut group = c.benchmark_group("first_part");
    group.bench_function(BenchmarkId::from_parameter("bare"), |b| {
        b.iter_custom(|iters| rt.block_on(first_parts(&bare, iters, &req)))
    });
    group.bench_function(BenchmarkId::from_parameter("recorded"), |b| {
        b.iter_custom(|iters| rt.block_on(first_parts(&recorded, iters, &req)))
    });
    group.finish();
}

/// Makes `iters` non-streaming calls.
async fn generate_calls(model: &impl Model, iters: u64, req: &ModelRequest) -> Duration {
    time_calls(iters, req, |req| async move {
        let response = model.generate(req).await.expect("in-memory calls answer");
        std::hint::black_box(response);
    })
    .await
}

/// Times `iters` stretches from calling `stream` to holding the first part.
async fn first_parts(model: &impl Model, iters: u64, req: &ModelRequest) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let req = req.clone();
        let start = Instant::now();
        let mut parts = model.stream(req).await.expect("in-memory streams open");
        let first = parts.next().await;
        total += start.elapsed();
        assert!(matches!(first, Some(Ok(_))), "the first part arrives");
        // Dropping the rest (for the recorder: ending the span as cancelled
        // and delivering the trace) happens after the clock stopped.
        drop(parts);
    }
    total
}

fn main() {
    let mut report = Report::start("bench 2, recording overhead per call");
    let mut criterion = Criterion::default().configure_from_args();
    calls(&mut criterion);
    criterion.final_summary();

    report.compare(
        "generate (non-streaming) call",
        "generate/bare",
        "generate/recorded",
        None,
    );
    if let Some(first) = report.compare(
        "call → first part",
        "first_part/bare",
        "first_part/recorded",
        None,
    ) {
        report.target("first part delayed < 2 µs", first.added() < 2_000.0);
    }
    report.print();
}

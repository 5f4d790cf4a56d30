//! Bench 1: what recording adds to a stream, per part.
//!
//! A `Recorder` around an in-memory model yielding 10, 100 and 1,000 parts,
//! against the same model bare, in the same run. The consumer drains every
//! part. Each call is made outside any span, so it is the root of a trace of
//! its own: the recorder does all its work per call (span start, every part
//! stamped and kept, the output summarized, the trace built and handed to a
//! sink) and the sink drops the trace.
//!
//! A third measurement, `ideal`, wraps the same model in the ideal recorder
//! (`common::ideal_recorder`): one clock read per call, and per part one
//! clock read, one clone and one push, no span and no JSON. The recorder's
//! ratio to it is its fixed cost per call made visible (at 10 parts) and its
//! cost per part beyond the contract's minimum (at 1,000).
//!
//! Targets: at 1,000 parts, at most 5% over the bare model and under 1 µs per
//! part; at most 1.5× the ideal recorder at 10 parts and 1.1× at 1,000.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput};
use tracedeck::{Collector, Model, Recorder};

use common::ideal_recorder::IdealRecorder;
use common::memory_model::MemoryModel;
use common::report::{Report, human};
use common::{Discard, chat_request, current_thread_runtime, drain, time_calls};

/// Parts per stream.
const LENGTHS: [usize; 3] = [10, 100, 1_000];

fn streams(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let req = chat_request();
    let mut group = c.benchmark_group("stream");
    for len in LENGTHS {
        let bare = MemoryModel::streaming(len);
        let recorded = Recorder::new(bare.clone(), Discard);
        let ideal = IdealRecorder(bare.clone());
        check_recording(&rt, &bare);
        group.throughput(Throughput::Elements(len as u64));
        group.bench_function(BenchmarkId::new("bare", len), |b| {
            b.iter_custom(|iters| rt.block_on(stream_calls(&bare, iters, &req, len)))
        });
        group.bench_function(BenchmarkId::new("ideal", len), |b| {
            b.iter_custom(|iters| rt.block_on(stream_calls(&ideal, iters, &req, len)))
        });
        group.bench_function(BenchmarkId::new("recorded", len), |b| {
            b.iter_custom(|iters| rt.block_on(stream_calls(&recorded, iters, &req, len)))
        });
    }
    group.finish();
}

/// Makes `iters` stream calls, each drained to its end.
async fn stream_calls(
    model: &impl Model,
    iters: u64,
    req: &tracedeck::ModelRequest,
    len: usize,
) -> std::time::Duration {
    time_calls(iters, req, |req| async move {
        let parts = model.stream(req).await.expect("an in-memory stream opens");
        let seen = drain(parts).await.expect("an in-memory stream never fails");
        assert_eq!(seen, len);
    })
    .await
}

/// Before timing: the recorder really records what is measured (one trace
/// per call, every part kept), so the figures are for the full work.
fn check_recording(rt: &tokio::runtime::Runtime, model: &MemoryModel) {
    let traces = Collector::new();
    let recorder = Recorder::new(model.clone(), traces.clone());
    rt.block_on(async {
        let parts = recorder.stream(chat_request()).await.unwrap();
        drain(parts).await.unwrap();
    });
    let traces = traces.traces();
    assert_eq!(traces.len(), 1, "one trace per root call");
    assert_eq!(
        traces[0].spans[0].parts.len(),
        model.len(),
        "every part kept"
    );
}

fn main() {
    let mut report = Report::start("bench 1, recording overhead on streams");
    let mut criterion = Criterion::default().configure_from_args();
    streams(&mut criterion);
    criterion.final_summary();

    let mut pairs = Vec::new();
    for len in LENGTHS {
        let pair = report.compare(
            &format!("stream of {len:>5} parts"),
            &format!("stream/bare/{len}"),
            &format!("stream/recorded/{len}"),
            Some((len as f64, "part")),
        );
        pairs.push(pair);
    }
    if let [_, Some(p100), Some(p1000)] = pairs[..] {
        let marginal = (p1000.added() - p100.added()) / 900.0;
        report.note(&format!(
            "marginal cost of one more part (100 → 1,000): {}/part",
            human(marginal)
        ));
    }
    for (len, aim) in [(10, 1.5), (100, f64::NAN), (1_000, 1.1)] {
        let pair = report.compare(
            &format!("stream of {len:>5} parts, recorded vs the ideal recorder"),
            &format!("stream/ideal/{len}"),
            &format!("stream/recorded/{len}"),
            Some((len as f64, "part")),
        );
        if let Some(pair) = pair.filter(|_| !aim.is_nan()) {
            report.target(
                &format!("≤ {aim}× the ideal recorder at {len} parts"),
                pair.ratio() <= aim,
            );
        }
    }
    for len in LENGTHS {
        report.compare(
            &format!("stream of {len:>5} parts, the ideal recorder vs bare"),
            &format!("stream/bare/{len}"),
            &format!("stream/ideal/{len}"),
            Some((len as f64, "part")),
        );
    }
    if let Some(Some(p1000)) = pairs.last() {
        report.target("≤ 5% at 1,000 parts", p1000.ratio() <= 1.05);
        report.target(
            "< 1 µs/part at 1,000 parts",
            p1000.added() / 1_000.0 < 1_000.0,
        );
    }
    report.print();
}

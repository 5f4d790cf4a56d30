//! Bench 4: the cassette store.
//!
//! Writing: `Store::write` of distinct traces (each a chat turn with one
//! 100-part streamed call), with the store's default flush to disk and with
//! it off, and `Store::encode` alone (redaction, canonical JSON, sha256: the
//! write without the file system). Figures in traces/s and MB/s.
//!
//! Loading with verification: `Store::traces` of a key (what `Player` and
//! `replay` use: every cassette re-hashed, parsed and checked) and
//! `Store::load` by hash, against the floor of `serde_json::from_slice` plus
//! sha256 of the same bytes, already in memory; and that floor with the
//! file read added.
//!
//! Target: loading within 1.5× of the floor.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use serde::Deserialize;
use tracedeck::Trace;
use tracedeck::cassette::{Store, sha256_hex};

use common::report::{Report, si};
use common::session::{KEY, record_session};

/// Distinct traces written and loaded per round.
const TRACES: usize = 200;
/// Parts per recorded call.
const PARTS: usize = 100;

/// The least any verifying load must do with a cassette's bytes: parse the
/// trace out of them (the envelope's other fields are skipped) and hash them.
#[derive(Deserialize)]
struct Cassette {
    trace: Trace,
}

fn floor(bytes: &[u8]) -> (Trace, String) {
    let cassette: Cassette = serde_json::from_slice(bytes).expect("a cassette parses");
    (cassette.trace, sha256_hex(bytes))
}

/// The session's traces as written: each cassette's bytes and file.
struct Written {
    store: Store,
    files: Vec<(String, PathBuf, Vec<u8>)>,
}

impl Written {
    fn total_bytes(&self) -> u64 {
        self.files.iter().map(|(_, _, b)| b.len() as u64).sum()
    }
}

fn write_all(dir: &Path, traces: &[Trace]) -> Written {
    let store = Store::open(dir)
        .expect("a temp store opens")
        .with_sync(false);
    let files = traces
        .iter()
        .map(|trace| {
            let stored = store.write(trace).expect("a recorded trace writes");
            let bytes = std::fs::read(&stored.path).expect("a written cassette reads");
            (stored.hash, stored.path, bytes)
        })
        .collect();
    Written { store, files }
}

/// Before timing: the store gives back exactly what was recorded, and the
/// floor reads the same trace from the same bytes.
fn check_round_trip(written: &Written, traces: &[Trace]) {
    let loaded = written.store.traces(KEY).expect("the key loads");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.traces.len(), traces.len());
    for (hash, _, bytes) in &written.files {
        let stored = written.store.load(hash).expect("a cassette loads by hash");
        let (trace, floor_hash) = floor(bytes);
        assert_eq!(&floor_hash, hash);
        assert_eq!(trace, stored.trace);
        assert!(traces.contains(&trace));
    }
}

/// Times writing `iters` traces, cycling through `traces`; every pass goes
/// into a fresh store (made and removed outside the timed stretch) so each
/// write creates a new file.
fn timed_writes(root: &Path, traces: &[Trace], sync: bool, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut pass = 0;
    while left > 0 {
        let dir = root.join(format!("pass-{pass}"));
        let store = Store::open(&dir)
            .expect("a temp store opens")
            .with_sync(sync);
        let batch = left.min(traces.len() as u64) as usize;
        let start = Instant::now();
        for trace in &traces[..batch] {
            std::hint::black_box(store.write(trace).expect("writes"));
        }
        total += start.elapsed();
        std::fs::remove_dir_all(&dir).expect("a temp store is removed");
        left -= batch as u64;
        pass += 1;
    }
    total
}

fn store(c: &mut Criterion, report_sizes: &mut (u64, u64)) {
    let (traces, _) = record_session(TRACES, PARTS);
    let tmp = tempfile::tempdir().expect("a temp dir");
    let written = write_all(&tmp.path().join("loaded"), &traces);
    check_round_trip(&written, &traces);
    let total = written.total_bytes();
    *report_sizes = (total, traces.len() as u64);
    let mean = total / traces.len() as u64;

    let mut group = c.benchmark_group("store_write");
    group.throughput(Throughput::Bytes(mean));
    let encoder = Store::open(tmp.path().join("encode")).expect("a temp store opens");
    let mut next = 0;
    group.bench_function(BenchmarkId::from_parameter("encode"), |b| {
        b.iter(|| {
            next = (next + 1) % traces.len();
            encoder.encode(&traces[next]).expect("encodes")
        })
    });
    for (name, sync) in [("unsynced", false), ("synced", true)] {
        let root = tmp.path().join(name);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| timed_writes(&root, &traces, sync, iters))
        });
    }
    group.finish();

    // Each load benchmark handles the whole key: TRACES cassettes per iteration.
    let mut group = c.benchmark_group("store_load");
    group.throughput(Throughput::Bytes(total));
    group.sample_size(30);
    group.bench_function(BenchmarkId::from_parameter("floor"), |b| {
        b.iter(|| {
            for (_, _, bytes) in &written.files {
                std::hint::black_box(floor(bytes));
            }
        })
    });
    group.bench_function(BenchmarkId::from_parameter("floor_with_read"), |b| {
        b.iter(|| {
            for (_, path, _) in &written.files {
                let bytes = std::fs::read(path).expect("reads");
                std::hint::black_box(floor(&bytes));
            }
        })
    });
    group.bench_function(BenchmarkId::from_parameter("traces"), |b| {
        b.iter(|| std::hint::black_box(written.store.traces(KEY).expect("loads")))
    });
    group.bench_function(BenchmarkId::from_parameter("load_by_hash"), |b| {
        b.iter(|| {
            for (hash, _, _) in &written.files {
                std::hint::black_box(written.store.load(hash).expect("loads"));
            }
        })
    });
    group.finish();
}

fn main() {
    let mut report = Report::start("bench 4, cassette store");
    let mut criterion = Criterion::default().configure_from_args();
    let mut sizes = (0, 0);
    store(&mut criterion, &mut sizes);
    criterion.final_summary();

    let (total, count) = sizes;
    let mean = total as f64 / count.max(1) as f64;
    report.note(&format!(
        "cassettes: {count} chat turns of {PARTS} parts, {:.1} KB each on average",
        mean / 1e3
    ));
    for (label, id) in [
        ("write, flushed to disk (default)", "store_write/synced"),
        ("write, not flushed", "store_write/unsynced"),
        ("encode only (no file system)", "store_write/encode"),
    ] {
        if let Some(traces_per_s) = report.rate(label, id, 1.0, "traces") {
            report.note(&format!("  = {}B/s", si(traces_per_s * mean)));
        }
    }
    let per = Some((count as f64, "cassette"));
    if let Some(traces) = report.compare(
        "load a key (Store::traces) vs floor",
        "store_load/floor",
        "store_load/traces",
        per,
    ) {
        report.target("load within 1.5× of the floor", traces.ratio() <= 1.5);
    }
    report.compare(
        "load a key (Store::traces) vs floor + file read",
        "store_load/floor_with_read",
        "store_load/traces",
        per,
    );
    report.compare(
        "load by hash (Store::load) vs floor",
        "store_load/floor",
        "store_load/load_by_hash",
        per,
    );
    report.print();
}

//! A recording is data from a file: every view of any trace a store can
//! hold — the text tree, the snapshot, the SVG timeline, statistics and tree
//! diffs — works for any values in it, times at the end of the clock
//! included, without panicking.

use crate::common::{self, TempStore};

use proptest::prelude::*;
use serde_json::json;
use tracedeck::Trace;
use tracedeck::replay::{LlmTiming, SpanTreeDiff};
use tracedeck::span::SnapshotSpan;
use tracedeck::span::TraceStats;

fn count(span: &SnapshotSpan) -> usize {
    1 + span.children.iter().map(count).sum::<usize>()
}

/// Every view of `trace`, a stored (so well-formed) trace: each shows every
/// span once.
fn look_at_everything(trace: &Trace) {
    let snapshot = trace.snapshot();
    assert_eq!(snapshot.duration_us, trace.duration_us());
    assert_eq!(count(&snapshot.root), trace.spans.len());
    let text = trace.render();
    assert_eq!(text.lines().count(), trace.spans.len(), "{text}");
    assert!(text.starts_with(&trace.root().key));
    let svg = trace.timeline_svg();
    assert_eq!(svg.matches("class=\"bar ").count(), trace.spans.len());
    let stats = TraceStats::of([trace]);
    assert_eq!(stats.calls, trace.llm_spans().count());
    assert!(SpanTreeDiff::between(trace, trace).is_empty());
    assert!(
        LlmTiming::between(trace, trace)
            .iter()
            .all(LlmTiming::is_unchanged)
    );
}

#[test]
fn times_at_the_end_of_the_clock_are_shown_not_overflowed() {
    let store = TempStore::new();
    let mut trace = common::simple_trace("late", json!("input"));
    trace.spans[0].timing.start_us = u64::MAX - 5;
    trace.spans[0].timing.duration_us = 10;
    let stored = store.write(&trace).unwrap();
    let loaded = store.load(&stored.hash).unwrap().trace;
    assert_eq!(loaded.duration_us(), u64::MAX);
    look_at_everything(&loaded);
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(64)
    })]

    /// Any trace (arbitrary times, contents, statuses and tree shapes),
    /// written and loaded back, can be looked at every way.
    #[test]
    fn every_view_of_any_stored_trace_works(trace in common::trace()) {
        let store = TempStore::new();
        let stored = store.write(&trace).unwrap();
        look_at_everything(&store.load(&stored.hash).unwrap().trace);
    }
}

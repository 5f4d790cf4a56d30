use serde::{Deserialize, Serialize};

use super::{Span, SpanId, SpanKind};

/// One root span and all its descendants.
///
/// Spans are kept flat, sorted by id; [`children`](Trace::children) walks the
/// tree. A trace is complete only once every span in it has ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Every span, sorted by id; `spans[0]` is the root.
    pub spans: Vec<Span>,
}

impl Trace {
    /// A trace of `spans` (sorted by id here). Returns `None` for an empty list.
    pub fn new(mut spans: Vec<Span>) -> Option<Self> {
        if spans.is_empty() {
            return None;
        }
        spans.sort_by_key(|s| s.id);
        Some(Self { spans })
    }

    /// The root span.
    pub fn root(&self) -> &Span {
        &self.spans[0]
    }

    /// The root's key, under which the trace is stored.
    pub fn key(&self) -> &str {
        &self.root().key
    }

    /// The span with `id`.
    pub fn span(&self, id: SpanId) -> Option<&Span> {
        self.spans
            .binary_search_by_key(&id, |s| s.id)
            .ok()
            .map(|i| &self.spans[i])
    }

    /// The direct children of `id`, in start order.
    pub fn children(&self, id: SpanId) -> impl Iterator<Item = &Span> + '_ {
        self.spans.iter().filter(move |s| s.parent == Some(id))
    }

    /// Every model-call span, in start order.
    pub fn llm_spans(&self) -> impl Iterator<Item = &Span> + '_ {
        self.spans.iter().filter(|s| s.kind == SpanKind::Llm)
    }

    /// The trace's duration: from its start to the last span's end.
    pub fn duration_us(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.timing.start_us + s.timing.duration_us)
            .max()
            .unwrap_or(0)
    }

    /// The ancestors of `id`, nearest first, ending with the root.
    pub fn ancestors(&self, id: SpanId) -> Vec<SpanId> {
        let mut out = Vec::new();
        let mut cur = self.span(id).and_then(|s| s.parent);
        while let Some(p) = cur {
            if out.contains(&p) {
                break;
            }
            out.push(p);
            cur = self.span(p).and_then(|s| s.parent);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(mut span: Span, start_us: u64, duration_us: u64) -> Span {
        span.timing.start_us = start_us;
        span.timing.duration_us = duration_us;
        span
    }

    fn sample() -> Trace {
        Trace::new(vec![
            at(Span::fixture(2, Some(0), "llm", SpanKind::Llm), 50, 500),
            at(Span::fixture(0, None, "root", SpanKind::Task), 0, 300),
            at(Span::fixture(3, Some(1), "llm", SpanKind::Llm), 20, 10),
            at(Span::fixture(1, Some(0), "step", SpanKind::Task), 10, 40),
        ])
        .unwrap()
    }

    #[test]
    fn a_trace_sorts_its_spans_by_id_and_needs_one() {
        let trace = sample();
        let ids: Vec<u64> = trace.spans.iter().map(|s| s.id.0).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        assert_eq!(trace.key(), "root");
        assert_eq!(Trace::new(Vec::new()), None);
    }

    #[test]
    fn lookups_walk_the_tree() {
        let trace = sample();
        assert_eq!(trace.span(SpanId(3)).unwrap().parent, Some(SpanId(1)));
        assert!(trace.span(SpanId(9)).is_none());
        let children: Vec<u64> = trace.children(SpanId(0)).map(|s| s.id.0).collect();
        assert_eq!(children, [1, 2]);
        let calls: Vec<u64> = trace.llm_spans().map(|s| s.id.0).collect();
        assert_eq!(calls, [2, 3]);
        assert_eq!(trace.ancestors(SpanId(3)), [SpanId(1), SpanId(0)]);
        assert_eq!(trace.ancestors(SpanId(0)), []);
    }

    #[test]
    fn the_duration_runs_to_the_last_end_even_past_the_root() {
        assert_eq!(sample().duration_us(), 550);
    }

    #[test]
    fn ancestors_stop_at_a_parent_cycle() {
        let trace = Trace::new(vec![
            Span::fixture(0, Some(1), "root", SpanKind::Task),
            Span::fixture(1, Some(0), "a", SpanKind::Task),
        ])
        .unwrap();
        assert_eq!(trace.ancestors(SpanId(1)), [SpanId(0), SpanId(1)]);
    }
}

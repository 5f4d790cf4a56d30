use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Span, SpanId, SpanKind};

/// One root span and all its descendants.
///
/// Spans are kept flat, sorted by id; [`children`](Trace::children) walks the
/// tree. A trace is complete only once every span in it has ended.
///
/// A trace always has a root: [`Trace::new`] and deserialization refuse an
/// empty span list (a hand-edited `{"spans": []}` is an error, not a trace
/// whose [`root`](Trace::root) panics).
///
/// ```
/// use tracedeck::Trace;
/// let err = serde_json::from_str::<Trace>(r#"{"spans": []}"#).unwrap_err();
/// assert!(err.to_string().contains("the trace has no spans"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpanList")]
pub struct Trace {
    /// Every span, sorted by id; `spans[0]` is the root. Never empty in a
    /// trace made by [`Trace::new`] or deserialized.
    pub spans: Vec<Span>,
}

/// A trace as it is read, before the check that it has a root.
#[derive(Deserialize)]
struct SpanList {
    spans: Vec<Span>,
}

impl TryFrom<SpanList> for Trace {
    type Error = &'static str;

    fn try_from(list: SpanList) -> Result<Self, Self::Error> {
        if list.spans.is_empty() {
            return Err("the trace has no spans: a trace holds at least its root");
        }
        Ok(Trace { spans: list.spans })
    }
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
    ///
    /// # Panics
    /// If `spans` is empty, which only a trace built by hand field by field
    /// can be: [`Trace::new`] and deserialization refuse an empty list.
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

    /// The trace's duration: from its start to the last span's end
    /// (`u64::MAX` if a hand-edited recording puts that end past it).
    pub fn duration_us(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.timing.start_us.saturating_add(s.timing.duration_us))
            .max()
            .unwrap_or(0)
    }

    /// The ancestors of `id`, nearest first, ending with the root (or where a
    /// parent cycle in a hand-edited recording would repeat one).
    pub fn ancestors(&self, id: SpanId) -> Vec<SpanId> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = self.span(id).and_then(|s| s.parent);
        while let Some(p) = cur {
            if !seen.insert(p) {
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
    fn a_trace_without_spans_does_not_deserialize() {
        let err = serde_json::from_str::<Trace>(r#"{"spans": []}"#).unwrap_err();
        assert!(err.to_string().contains("no spans"), "{err}");
        let one = serde_json::to_string(&sample()).unwrap();
        assert_eq!(serde_json::from_str::<Trace>(&one).unwrap(), sample());
    }

    #[test]
    fn the_duration_of_times_at_the_end_of_the_clock_saturates() {
        let trace = Trace::new(vec![at(
            Span::fixture(0, None, "root", SpanKind::Task),
            u64::MAX - 5,
            10,
        )])
        .unwrap();
        assert_eq!(trace.duration_us(), u64::MAX);
    }

    #[test]
    fn the_ancestors_of_a_deep_span_take_linear_time() {
        let spans = (0..100_000)
            .map(|i| Span::fixture(i, i.checked_sub(1), "step", SpanKind::Task))
            .collect();
        let trace = Trace::new(spans).unwrap();
        let ancestors = trace.ancestors(SpanId(99_999));
        assert_eq!(ancestors.len(), 99_999);
        assert_eq!(ancestors.last(), Some(&SpanId(0)));
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

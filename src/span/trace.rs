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

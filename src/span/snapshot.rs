use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tree::Tree;
use super::{Span, SpanId, SpanKind, SpanStatus, Trace};
use crate::model::ModelInfo;

/// A normalized, nested view of a [`Trace`] for snapshot tests: ids are
/// sequential, times are exact microsecond offsets, and nothing volatile
/// (response ids, recording dates) appears. Feed it straight to
/// `insta::assert_yaml_snapshot!`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSnapshot {
    /// The root's key.
    pub key: String,
    /// From the trace start to its last span's end.
    pub duration_us: u64,
    /// The root span with its descendants.
    pub root: SnapshotSpan,
}

/// One span of a [`TraceSnapshot`], with its children nested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSpan {
    /// The span's id.
    pub id: SpanId,
    /// The span's key.
    pub key: String,
    /// Task or model call.
    pub kind: SpanKind,
    /// How it ended.
    pub status: SpanStatus,
    /// Start, from the trace start.
    pub start_us: u64,
    /// Duration.
    pub duration_us: u64,
    /// Streams: call to open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_us: Option<u64>,
    /// Streams: call to first part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_part_us: Option<u64>,
    /// Streams: call to first content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<u64>,
    /// Calls: the model wrapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelInfo>,
    /// Calls: whether streamed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streamed: bool,
    /// Calls: how many parts were streamed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub parts: usize,
    /// The input.
    pub input: Value,
    /// The output.
    #[serde(
        default,
        deserialize_with = "super::present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<Value>,
    /// The error, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The children, in start order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<SnapshotSpan>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Trace {
    /// The normalized view for snapshot tests; see [`TraceSnapshot`].
    ///
    /// Built in linear time; each span appears once, under its parent (a
    /// parent cycle in a hand-edited recording ends the tree).
    pub fn snapshot(&self) -> TraceSnapshot {
        let tree = Tree::of(self);
        let walk = tree.walk();
        // Built bottom-up (a span after all of its descendants), so no
        // recursion: each span takes its children's finished views.
        let mut built: Vec<Option<SnapshotSpan>> = vec![None; self.spans.len()];
        for visit in walk.iter().rev() {
            let children = tree
                .children(visit.index)
                .iter()
                .filter_map(|&c| built[c].take())
                .collect();
            built[visit.index] = Some(snapshot_span(&self.spans[visit.index], children));
        }
        let root = built
            .first_mut()
            .and_then(Option::take)
            .unwrap_or_else(|| snapshot_span(self.root(), Vec::new()));
        TraceSnapshot {
            key: self.key().to_owned(),
            duration_us: self.duration_us(),
            root,
        }
    }
}

fn snapshot_span(span: &Span, children: Vec<SnapshotSpan>) -> SnapshotSpan {
    SnapshotSpan {
        id: span.id,
        key: span.key.clone(),
        kind: span.kind,
        status: span.status,
        start_us: span.timing.start_us,
        duration_us: span.timing.duration_us,
        opened_us: span.timing.opened_us,
        first_part_us: span.timing.first_part_us,
        ttft_us: span.timing.ttft_us,
        model: span.model.clone(),
        streamed: span.streamed,
        parts: span.parts.len(),
        input: Value::clone(&span.input),
        output: span.output.as_deref().cloned(),
        error: span.error.as_ref().map(|e| e.to_string()),
        children,
    }
}

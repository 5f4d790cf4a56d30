use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::json::{JsonChange, diff_json};
use crate::span::{Span, SpanId, Trace};

/// How a replayed span tree differs from the recorded one.
///
/// Spans are paired by their place in the tree, written as a path of keys
/// from the root with each key's position among its same-key siblings:
/// `chat-turn > plan[0] > llm[1]` is the second `llm` call under the first
/// `plan` task. A span is *changed* when its kind, status, streaming, input,
/// output or error differ (timing is compared separately, in
/// [`LlmTiming`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanTreeDiff {
    /// Paths of spans only the replay has, in start order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    /// Paths of spans only the recording has, in start order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// Spans both have that differ, in the recording's start order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<SpanChange>,
}

/// One span present in both trees whose content differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanChange {
    /// The span's path (see [`SpanTreeDiff`]).
    pub span: String,
    /// What differs, as paths into `{kind, status, streamed, input, output, error}`.
    pub changes: Vec<JsonChange>,
}

/// Recorded versus replayed timing of one `llm` span both trees have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmTiming {
    /// The span's path (see [`SpanTreeDiff`]).
    pub span: String,
    /// Time to first token when recorded, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_ttft_us: Option<u64>,
    /// Time to first token in the replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_ttft_us: Option<u64>,
    /// Duration when recorded, in microseconds.
    pub recorded_duration_us: u64,
    /// Duration in the replay.
    pub replayed_duration_us: u64,
}

impl SpanTreeDiff {
    /// The differences from `recorded` to `replayed`.
    pub fn between(recorded: &Trace, replayed: &Trace) -> Self {
        let old = span_paths(recorded);
        let new = span_paths(replayed);
        let new_by_path: HashMap<&str, &Span> = new.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let old_paths: HashMap<&str, ()> = old.iter().map(|(p, _)| (p.as_str(), ())).collect();
        let mut diff = Self::default();
        for (path, span) in &old {
            match new_by_path.get(path.as_str()) {
                None => diff.removed.push(path.clone()),
                Some(other) => {
                    let changes = diff_json(&content(span), &content(other));
                    if !changes.is_empty() {
                        diff.changed.push(SpanChange {
                            span: path.clone(),
                            changes,
                        });
                    }
                }
            }
        }
        diff.added = new
            .iter()
            .filter(|(p, _)| !old_paths.contains_key(p.as_str()))
            .map(|(p, _)| p.clone())
            .collect();
        diff
    }

    /// Whether the trees hold the same spans with the same content.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl LlmTiming {
    /// Recorded versus replayed timing of every `llm` span both traces have,
    /// in the recording's start order.
    pub fn between(recorded: &Trace, replayed: &Trace) -> Vec<Self> {
        let new = span_paths(replayed);
        let new_by_path: HashMap<&str, &Span> = new.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        span_paths(recorded)
            .into_iter()
            .filter(|(_, span)| span.is_llm())
            .filter_map(|(path, old)| {
                let new = new_by_path.get(path.as_str())?;
                Some(Self {
                    span: path,
                    recorded_ttft_us: old.timing.ttft_us,
                    replayed_ttft_us: new.timing.ttft_us,
                    recorded_duration_us: old.timing.duration_us,
                    replayed_duration_us: new.timing.duration_us,
                })
            })
            .collect()
    }

    /// Whether TTFT and duration are the same.
    pub fn is_unchanged(&self) -> bool {
        self.recorded_ttft_us == self.replayed_ttft_us
            && self.recorded_duration_us == self.replayed_duration_us
    }
}

/// Every span with its path, in id (start) order.
pub(crate) fn span_paths(trace: &Trace) -> Vec<(String, &Span)> {
    let mut paths: HashMap<SpanId, String> = HashMap::new();
    let mut seen: HashMap<(Option<SpanId>, &str), usize> = HashMap::new();
    let mut out = Vec::with_capacity(trace.spans.len());
    for (i, span) in trace.spans.iter().enumerate() {
        let path = if i == 0 {
            span.key.clone()
        } else {
            let n = seen.entry((span.parent, &span.key)).or_default();
            let parent = span
                .parent
                .and_then(|p| paths.get(&p))
                .map_or("(detached)", String::as_str);
            let path = format!("{parent} > {}[{n}]", span.key);
            *n += 1;
            path
        };
        paths.insert(span.id, path.clone());
        out.push((path, span));
    }
    out
}

/// What of a span counts as its content when trees are compared.
fn content(span: &Span) -> Value {
    // Sorted as a build without serde_json's `preserve_order` keeps them,
    // so the diffs read the same in every build.
    crate::json::canonical::sorted_keys(json!({
        "kind": span.kind,
        "status": span.status,
        "streamed": span.streamed,
        "input": span.input,
        "output": span.output,
        "error": span.error,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{SpanKind, SpanStatus, Timing};

    fn span(id: u64, parent: Option<u64>, key: &str, output: &str) -> Span {
        Span {
            id: SpanId(id),
            parent: parent.map(SpanId),
            key: key.into(),
            kind: if key == "llm" {
                SpanKind::Llm
            } else {
                SpanKind::Task
            },
            status: SpanStatus::Ok,
            timing: Timing::default(),
            input: json!("in").into(),
            output: Some(json!(output).into()),
            model: None,
            streamed: false,
            parts: vec![],
            error: None,
        }
    }

    fn trace(spans: Vec<Span>) -> Trace {
        Trace::new(spans).unwrap()
    }

    #[test]
    fn paths_count_same_key_siblings() {
        let t = trace(vec![
            span(0, None, "turn", ""),
            span(1, Some(0), "llm", ""),
            span(2, Some(0), "plan", ""),
            span(3, Some(2), "llm", ""),
            span(4, Some(0), "llm", ""),
        ]);
        let paths: Vec<String> = span_paths(&t).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "turn",
                "turn > llm[0]",
                "turn > plan[0]",
                "turn > plan[0] > llm[0]",
                "turn > llm[1]"
            ]
        );
    }

    #[test]
    fn identical_trees_have_no_diff() {
        let t = trace(vec![
            span(0, None, "turn", "a"),
            span(1, Some(0), "llm", "b"),
        ]);
        assert!(SpanTreeDiff::between(&t, &t.clone()).is_empty());
    }

    #[test]
    fn added_removed_and_changed_spans_are_named() {
        let old = trace(vec![
            span(0, None, "turn", "a"),
            span(1, Some(0), "llm", "x"),
            span(2, Some(0), "search", "s"),
        ]);
        let new = trace(vec![
            span(0, None, "turn", "a"),
            span(1, Some(0), "llm", "y"),
            span(2, Some(0), "llm", "z"),
        ]);
        let diff = SpanTreeDiff::between(&old, &new);
        assert_eq!(diff.added, ["turn > llm[1]"]);
        assert_eq!(diff.removed, ["turn > search[0]"]);
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.changed[0].span, "turn > llm[0]");
        assert_eq!(
            diff.changed[0].changes[0].to_string(),
            r#"/output: "x" → "y""#
        );
    }

    #[test]
    fn timing_is_compared_per_llm_span_not_as_content() {
        let old = trace(vec![
            span(0, None, "turn", "a"),
            span(1, Some(0), "llm", "b"),
        ]);
        let mut new = old.clone();
        new.spans[1].timing.ttft_us = Some(5);
        new.spans[1].timing.duration_us = 9;
        assert!(SpanTreeDiff::between(&old, &new).is_empty());
        let timings = LlmTiming::between(&old, &new);
        assert_eq!(
            timings,
            [LlmTiming {
                span: "turn > llm[0]".into(),
                recorded_ttft_us: None,
                replayed_ttft_us: Some(5),
                recorded_duration_us: 0,
                replayed_duration_us: 9,
            }]
        );
        assert!(!timings[0].is_unchanged());
    }
}

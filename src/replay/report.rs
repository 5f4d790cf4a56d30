use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{LlmTiming, SpanTreeDiff};
use crate::json::JsonChange;
use crate::span::{Trace, format_us};

/// What [`replay`](crate::replay::replay) found: for every recorded trace
/// of the key, how the new run compares.
///
/// [`snapshot`](ReplayReport::snapshot) gives a compact, deterministic view
/// for `insta::assert_yaml_snapshot!`; `Display` prints a summary for people;
/// [`assert_unchanged`](ReplayReport::assert_unchanged) fails a test with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    /// The key replayed.
    pub key: String,
    /// One entry per replayed trace, in the order of the recordings: content
    /// order for a store (see [`Store::traces`](crate::cassette::Store::traces)),
    /// never file times.
    pub traces: Vec<TraceReplay>,
    /// Cassette files under the key that could not be loaded, with why.
    pub unreadable: Vec<String>,
}

/// One recorded trace replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceReplay {
    /// Where the recording came from: `<key>/<hash>.json` in a store, or
    /// `trace <n>` for traces given in memory.
    pub origin: String,
    /// The recording: the very trace the replay's player served from,
    /// shared, not a copy (so a report of thousands of traces holds each
    /// recording once).
    pub recorded: Arc<Trace>,
    /// The new run's trace; `None` when it did not finish (a task spawned
    /// inside it was still running when the function returned).
    ///
    /// When the new run is exactly the recording (an unchanged replay on
    /// the paused clock), this is the recording itself, shared with
    /// `recorded`, not a second copy.
    pub replayed: Option<Arc<Trace>>,
    /// Unchanged, changed, or failed.
    pub outcome: TraceOutcome,
    /// How the root output changed (empty when it did not).
    pub output_diff: Vec<JsonChange>,
    /// How the span tree changed.
    pub tree: SpanTreeDiff,
    /// Recorded versus replayed TTFT and duration of each `llm` span both have.
    pub llm_timings: Vec<LlmTiming>,
}

/// How a replayed trace compares with its recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TraceOutcome {
    /// Same output, same span tree (timing aside).
    Unchanged,
    /// The output or the span tree differs.
    Changed,
    /// The function panicked or returned an error the recording did not
    /// have, or the recorded input did not decode as its input type, or
    /// (when [strict](crate::replay::PlaybackOptions::fail_on_unused_calls)) it left
    /// recorded calls unused.
    Failed {
        /// What went wrong. Serialized (in snapshots) as a string when it
        /// is one line, and as a list of its lines when it has several, so
        /// a long message such as a cassette miss stays readable.
        #[serde(
            serialize_with = "one_or_lines",
            deserialize_with = "from_one_or_lines"
        )]
        reason: String,
    },
}

/// A one-line text as a string; a longer one as the list of its lines.
fn one_or_lines<S: serde::Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    if text.contains('\n') {
        serializer.collect_seq(text.lines())
    } else {
        serializer.serialize_str(text)
    }
}

/// The text [`one_or_lines`] wrote: a string, or lines joined with `\n`.
fn from_one_or_lines<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrLines {
        One(String),
        Lines(Vec<String>),
    }
    Ok(match OneOrLines::deserialize(deserializer)? {
        OneOrLines::One(text) => text,
        OneOrLines::Lines(lines) => lines.join("\n"),
    })
}

/// Counts over a [`ReplayReport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayTotals {
    /// Traces replayed.
    pub traces: usize,
    /// Traces unchanged.
    pub unchanged: usize,
    /// Traces changed.
    pub changed: usize,
    /// Traces failed.
    pub failed: usize,
    /// Cassette files that could not be loaded.
    pub unreadable: usize,
    /// Spans only the replays have.
    pub spans_added: usize,
    /// Spans only the recordings have.
    pub spans_removed: usize,
    /// Spans both have whose content differs.
    pub spans_changed: usize,
}

impl TraceReplay {
    /// Why the trace failed, if it did.
    fn failure(&self) -> Option<&str> {
        match &self.outcome {
            TraceOutcome::Failed { reason } => Some(reason),
            _ => None,
        }
    }

    /// Whether the root output is the same as recorded.
    pub fn output_unchanged(&self) -> bool {
        self.replayed.is_some() && self.output_diff.is_empty()
    }
}

impl ReplayReport {
    /// The counts.
    pub fn totals(&self) -> ReplayTotals {
        let mut totals = ReplayTotals {
            traces: self.traces.len(),
            unreadable: self.unreadable.len(),
            ..ReplayTotals::default()
        };
        for t in &self.traces {
            match t.outcome {
                TraceOutcome::Unchanged => totals.unchanged += 1,
                TraceOutcome::Changed => totals.changed += 1,
                TraceOutcome::Failed { .. } => totals.failed += 1,
            }
            totals.spans_added += t.tree.added.len();
            totals.spans_removed += t.tree.removed.len();
            totals.spans_changed += t.tree.changed.len();
        }
        totals
    }

    /// Whether every trace replayed unchanged and every file loaded.
    pub fn is_unchanged(&self) -> bool {
        self.unreadable.is_empty()
            && self
                .traces
                .iter()
                .all(|t| t.outcome == TraceOutcome::Unchanged)
    }

    /// Fails the calling test with the report unless it
    /// [`is_unchanged`](ReplayReport::is_unchanged).
    ///
    /// # Panics
    /// When a trace changed or failed, or a file could not be loaded; the
    /// message is the report.
    #[track_caller]
    pub fn assert_unchanged(&self) {
        if !self.is_unchanged() {
            panic!("replay of `{}` changed:\n{self}", self.key);
        }
    }

    /// A compact, deterministic view for snapshot tests: outcomes, diffs
    /// as `path: old → new` lines, timings and totals, without the full
    /// traces (snapshot those with [`Trace::snapshot`]).
    pub fn snapshot(&self) -> ReplayReportSnapshot {
        ReplayReportSnapshot {
            key: self.key.clone(),
            totals: self.totals(),
            traces: self.traces.iter().map(TraceReplaySnapshot::from).collect(),
            unreadable: self.unreadable.clone(),
        }
    }
}

/// The snapshot view of a [`ReplayReport`]; see [`ReplayReport::snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReportSnapshot {
    /// The key replayed.
    pub key: String,
    /// The counts.
    pub totals: ReplayTotals,
    /// One entry per trace, in the order of [`ReplayReport::traces`].
    pub traces: Vec<TraceReplaySnapshot>,
    /// Files that could not be loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// One trace of a [`ReplayReportSnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceReplaySnapshot {
    /// Where the recording came from.
    pub origin: String,
    /// Unchanged, changed or failed (with the reason).
    #[serde(flatten)]
    pub outcome: TraceOutcome,
    /// Output changes, one `path: old → new` line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_diff: Vec<String>,
    /// Spans only the replay has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans_added: Vec<String>,
    /// Spans only the recording has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans_removed: Vec<String>,
    /// Changed spans, each with its `path: old → new` lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans_changed: Vec<SpanChangeSnapshot>,
    /// Recorded versus replayed timing per `llm` span.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llm_timings: Vec<LlmTiming>,
}

/// One changed span of a [`TraceReplaySnapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanChangeSnapshot {
    /// The span's path.
    pub span: String,
    /// Its changes, one `path: old → new` line each.
    pub changes: Vec<String>,
}

impl From<&TraceReplay> for TraceReplaySnapshot {
    fn from(t: &TraceReplay) -> Self {
        let failure = t.failure();
        Self {
            origin: t.origin.clone(),
            outcome: t.outcome.clone(),
            output_diff: t
                .output_diff
                .iter()
                .map(|c| change_line(c, failure))
                .collect(),
            spans_added: t.tree.added.clone(),
            spans_removed: t.tree.removed.clone(),
            spans_changed: t
                .tree
                .changed
                .iter()
                .map(|c| SpanChangeSnapshot {
                    span: c.span.clone(),
                    changes: c.changes.iter().map(|c| change_line(c, failure)).collect(),
                })
                .collect(),
            llm_timings: t.llm_timings.clone(),
        }
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.totals();
        writeln!(
            f,
            "replay of `{}`: {} trace(s): {} unchanged, {} changed, {} failed",
            self.key, t.traces, t.unchanged, t.changed, t.failed
        )?;
        for file in &self.unreadable {
            writeln!(f, "✗ unreadable: {file}")?;
        }
        for trace in &self.traces {
            f.write_str(&describe(trace))?;
        }
        Ok(())
    }
}

fn describe(t: &TraceReplay) -> String {
    let failure = t.failure();
    let mut out = String::new();
    let _ = match &t.outcome {
        TraceOutcome::Unchanged => writeln!(out, "✓ {} unchanged", t.origin),
        TraceOutcome::Changed => writeln!(out, "~ {} changed", t.origin),
        TraceOutcome::Failed { reason } => {
            let mut lines = reason.lines();
            let _ = writeln!(
                out,
                "✗ {} failed: {}",
                t.origin,
                lines.next().unwrap_or_default()
            );
            lines.try_for_each(|l| writeln!(out, "      {l}"))
        }
    };
    for change in &t.output_diff {
        let _ = writeln!(out, "    output {}", change_line(change, failure));
    }
    for span in &t.tree.added {
        let _ = writeln!(out, "    + {span}");
    }
    for span in &t.tree.removed {
        let _ = writeln!(out, "    - {span}");
    }
    for span in &t.tree.changed {
        let _ = writeln!(out, "    ~ {}", span.span);
        for change in &span.changes {
            let _ = writeln!(out, "        {}", change_line(change, failure));
        }
    }
    for timing in t.llm_timings.iter().filter(|x| !x.is_unchanged()) {
        let ttft = |v: Option<u64>| v.map_or("-".to_owned(), format_us);
        let _ = writeln!(
            out,
            "    ⏱ {}: ttft {} → {}, duration {} → {}",
            timing.span,
            ttft(timing.recorded_ttft_us),
            ttft(timing.replayed_ttft_us),
            format_us(timing.recorded_duration_us),
            format_us(timing.replayed_duration_us),
        );
    }
    out
}

/// What a side of a change that repeats the failure shows instead.
const SHOWN_ABOVE: &str = "(the error above)";
/// The shortest string taken for a repeat of the failure (shorter ones are
/// as easy to read again as a pointer to them).
const MIN_REPEATED_CHARS: usize = 40;
/// The most characters of a value a shortened change line shows.
const SHOWN_CHARS: usize = 100;

/// A change as a `path: old → new` line. A side that repeats the trace's
/// failure (an error, such as a cassette miss, that the failure reason
/// already shows in full, as text) shows as `(the error above)` instead of
/// again as escaped JSON.
fn change_line(change: &JsonChange, failure: Option<&str>) -> String {
    let repeats = |side: &Option<Value>| {
        side.as_ref()
            .is_some_and(|value| repeats_failure(value, failure))
    };
    if !repeats(&change.old) && !repeats(&change.new) {
        return change.to_string();
    }
    let show = |side: &Option<Value>| match side {
        _ if repeats(side) => SHOWN_ABOVE.to_owned(),
        None => "(absent)".to_owned(),
        Some(value) => {
            let text = value.to_string();
            let mut shown: String = text.chars().take(SHOWN_CHARS).collect();
            if text.chars().count() > SHOWN_CHARS {
                shown.push('…');
            }
            shown
        }
    };
    let path = if change.path.is_empty() {
        "(whole value)"
    } else {
        &change.path
    };
    format!("{path}: {} → {}", show(&change.old), show(&change.new))
}

/// Whether `value` is the failure text again: a long string the reason
/// contains, or an error object (a serialized model error) holding one.
fn repeats_failure(value: &Value, failure: Option<&str>) -> bool {
    let Some(reason) = failure else {
        return false;
    };
    let repeated = |v: &Value| matches!(v, Value::String(s) if s.chars().count() >= MIN_REPEATED_CHARS && reason.contains(s.as_str()));
    match value {
        Value::Object(map) => map.values().any(repeated),
        other => repeated(other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_reason_of_several_lines_is_serialized_as_its_lines_and_read_back() {
        let one = TraceOutcome::Failed {
            reason: "panicked: boom".into(),
        };
        assert_eq!(
            serde_json::to_value(&one).unwrap(),
            json!({"outcome": "failed", "reason": "panicked: boom"})
        );
        let many = TraceOutcome::Failed {
            reason: "returned an error: miss\n  /a: 1 → 2\nwhat to do".into(),
        };
        let value = serde_json::to_value(&many).unwrap();
        assert_eq!(
            value,
            json!({"outcome": "failed", "reason": ["returned an error: miss", "  /a: 1 → 2", "what to do"]})
        );
        assert_eq!(serde_json::from_value::<TraceOutcome>(value).unwrap(), many);
        let one_back = serde_json::to_value(&one).unwrap();
        assert_eq!(
            serde_json::from_value::<TraceOutcome>(one_back).unwrap(),
            one
        );
    }

    #[test]
    fn a_change_repeating_the_failure_points_to_it() {
        let miss = "no recorded call in cassette key `k` matches this request\nrequest sha256 0";
        let failure = format!("returned an error: {miss}");
        let output = JsonChange {
            path: "/Err".into(),
            old: None,
            new: Some(json!(miss)),
        };
        assert_eq!(
            change_line(&output, Some(&failure)),
            "/Err: (absent) → (the error above)"
        );
        let error = JsonChange {
            path: "/error".into(),
            old: Some(Value::Null),
            new: Some(
                json!({"type": "cassette_miss", "key": "k", "detail": "request sha256 0 and the rest of a long detail"}),
            ),
        };
        assert_eq!(
            change_line(
                &error,
                Some("no recorded call\nrequest sha256 0 and the rest of a long detail")
            ),
            "/error: null → (the error above)"
        );
        // Short values and traces that did not fail are shown as they are.
        let short = JsonChange {
            path: "/Err".into(),
            old: None,
            new: Some(json!("refused")),
        };
        assert_eq!(
            change_line(&short, Some("returned an error: refused")),
            short.to_string()
        );
        assert_eq!(change_line(&output, None), output.to_string());
    }
}

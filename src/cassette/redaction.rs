use serde::Deserialize;
use serde_json::Value;

use super::error::CassetteError;
use super::stream_redaction::align_stream;
use crate::json::Pointer;
use crate::model::StreamPart;
use crate::span::{RecordedPart, SpanKind, Trace};

/// The text that replaces a redacted value unless [`Redaction::placeholder`] says otherwise.
pub const DEFAULT_PLACEHOLDER: &str = "[REDACTED]";

/// Which JSON values to hide before a trace is hashed and stored.
///
/// Each path is a JSON Pointer (RFC 6901: `/messages/0/content`, with `~1`
/// for `/` and `~0` for `~` inside a key) in which a segment `*` matches
/// every key of an object or every item of an array. A path applies to
/// every span's `input` (for a model call, the [`ModelRequest`](crate::ModelRequest))
/// and `output` (the [`ModelResponse`](crate::ModelResponse)); the value it
/// selects is replaced by the placeholder string, and a path that selects
/// nothing changes nothing.
///
/// Paths also apply to every streamed part, taken in its JSON form (e.g.
/// `{"type": "text_delta", "text": "…"}`). A part keeps its shape: within a
/// part only strings are replaced, and only where the part stays a valid
/// [`StreamPart`] (a part's `type`, a role or a finish kind are never replaced).
///
/// A streamed call's parts add up to its output, and stay that way: when a
/// path hides a piece of content in the output (`/text`, `/reasoning`,
/// `/refusal`, `/tool_calls/*/name`, `/tool_calls/*/arguments`, or a path
/// inside the arguments) or in any part of it (`/arguments`), it is hidden in
/// both, the first part that carried some of it carries the whole redacted
/// value and the later ones carry nothing. So `/text` hides a response's
/// text *and* its text deltas, the redacted stream replays to the redacted
/// output (`[REDACTED]`, not one placeholder per delta), and every part keeps
/// its type and offset, so TTFT replays as recorded (unless the placeholder
/// is empty).
///
/// Because the [`Store`](super::Store) redacts before it hashes, and a
/// [`Player`](crate::Player) redacts a live request the same way before
/// looking it up, requests that differ only in redacted values share one
/// playback hash.
///
/// ```
/// use serde_json::json;
/// use tracedeck::cassette::Redaction;
///
/// let redaction = Redaction::new()
///     .path("/extra/user_email")
///     .path("/messages/*/content/*/api_key")
///     .placeholder("<hidden>");
/// let mut request = json!({
///     "model": "m",
///     "extra": {"user_email": "ada@example.com"},
///     "messages": [{"content": [{"api_key": "k1"}, {"text": "hi"}]}],
/// });
/// redaction.apply(&mut request);
/// assert_eq!(request["extra"]["user_email"], "<hidden>");
/// assert_eq!(request["messages"][0]["content"][0]["api_key"], "<hidden>");
/// assert_eq!(request["messages"][0]["content"][1]["text"], "hi");
/// ```
///
/// A span's `error`, its model info and the trace's keys are never redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    paths: Vec<Pointer>,
    placeholder: String,
}

impl Default for Redaction {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            placeholder: DEFAULT_PLACEHOLDER.to_owned(),
        }
    }
}

impl Redaction {
    /// No paths; the placeholder is [`DEFAULT_PLACEHOLDER`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Also hides the value at `pointer`.
    ///
    /// Never fails: a pointer without a leading `/` is read as if it had one
    /// (`extra/key` is `/extra/key`) and a `~` not followed by `0` or `1` is
    /// taken literally. Use [`try_path`](Redaction::try_path) to have such
    /// pointers refused instead.
    pub fn path(mut self, pointer: &str) -> Self {
        self.paths.push(Pointer::parse_lenient(pointer));
        self
    }

    /// Like [`path`](Redaction::path), but a pointer that is not valid
    /// RFC 6901 is refused with [`CassetteError::InvalidPointer`].
    pub fn try_path(mut self, pointer: &str) -> Result<Self, CassetteError> {
        self.paths.push(Pointer::parse(pointer)?);
        Ok(self)
    }

    /// Replaces hidden values with `text` instead of [`DEFAULT_PLACEHOLDER`].
    pub fn placeholder(mut self, text: impl Into<String>) -> Self {
        self.placeholder = text.into();
        self
    }

    /// The placeholder text.
    pub fn placeholder_text(&self) -> &str {
        &self.placeholder
    }

    /// The paths, as JSON Pointers.
    pub fn paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.paths.iter().map(Pointer::as_str)
    }

    /// Whether there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Hides every listed path in one JSON value (a request, an output).
    pub fn apply(&self, value: &mut Value) {
        for pointer in &self.paths {
            pointer.for_each_match(value, &mut |hit| {
                *hit = Value::String(self.placeholder.clone());
            });
        }
    }

    /// Hides every listed path in every span's input, output and streamed
    /// parts; a streamed call's parts then still add up to its output (see
    /// the type's docs).
    pub fn apply_to_trace(&self, trace: &mut Trace) {
        if self.is_empty() {
            return;
        }
        for span in &mut trace.spans {
            let before = (span.kind == SpanKind::Llm && span.streamed)
                .then(|| (span.output.clone(), span.parts.clone()));
            self.apply(&mut span.input);
            if let Some(output) = &mut span.output {
                self.apply(output);
            }
            for part in &mut span.parts {
                self.apply_to_part(part);
            }
            if let Some((output, parts)) = before {
                align_stream(span, output.as_deref(), &parts, &self.placeholder);
            }
        }
    }

    fn apply_to_part(&self, recorded: &mut RecordedPart) {
        let Ok(original) = serde_json::to_value(&recorded.part) else {
            return;
        };
        let mut all = original.clone();
        let leaves = self.replace_leaves(&mut all, None);
        if leaves == 0 {
            return;
        }
        if let Ok(part) = StreamPart::deserialize(&all) {
            recorded.part = part;
            return;
        }
        // Some selected string is a fixed word of the part's type (its tag, a
        // role, a finish kind): replace the strings one at a time, keeping
        // each replacement that leaves a valid part.
        let mut kept = original;
        for nth in 0..leaves {
            let mut candidate = kept.clone();
            self.replace_leaves(&mut candidate, Some(nth));
            if StreamPart::deserialize(&candidate).is_ok() {
                kept = candidate;
            }
        }
        if let Ok(part) = StreamPart::deserialize(&kept) {
            recorded.part = part;
        }
    }

    /// Replaces the strings inside every selected value (only the `only`-th
    /// one when given); returns how many strings were selected.
    fn replace_leaves(&self, value: &mut Value, only: Option<usize>) -> usize {
        let mut seen = 0;
        for pointer in &self.paths {
            pointer.for_each_match(value, &mut |hit| {
                for_each_string(hit, &mut |s| {
                    if only.is_none_or(|n| n == seen) {
                        s.clone_from(&self.placeholder);
                    }
                    seen += 1;
                });
            });
        }
        seen
    }
}

fn for_each_string(value: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|v| for_each_string(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| for_each_string(v, f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{FinishReason, Role};
    use crate::span::{Span, SpanKind};

    fn part(part: StreamPart) -> RecordedPart {
        RecordedPart { offset_us: 5, part }
    }

    fn trace_with(input: Value, output: Value, parts: Vec<RecordedPart>) -> Trace {
        Trace {
            spans: vec![Span {
                input: input.into(),
                output: Some(output.into()),
                streamed: true,
                parts,
                ..Span::fixture(0, None, "k", SpanKind::Llm)
            }],
        }
    }

    #[test]
    fn replaces_whole_values_in_inputs_and_outputs() {
        let mut trace = trace_with(
            json!({"extra": {"token": {"a": 1}}, "model": "m"}),
            json!({"text": "secret answer"}),
            vec![],
        );
        Redaction::new()
            .path("/extra/token")
            .path("/text")
            .apply_to_trace(&mut trace);
        let span = &trace.spans[0];
        assert_eq!(
            span.input,
            json!({"extra": {"token": "[REDACTED]"}, "model": "m"})
        );
        assert_eq!(span.output, Some(json!({"text": "[REDACTED]"}).into()));
    }

    #[test]
    fn parts_keep_their_shape() {
        let mut trace = trace_with(
            json!({}),
            json!({}),
            vec![
                part(StreamPart::text("secret")),
                part(StreamPart::RoleDelta {
                    role: Role::Assistant,
                }),
                part(StreamPart::finish(FinishReason::stop())),
                part(StreamPart::ToolCallStart {
                    id: "c1".into(),
                    name: "lookup".into(),
                }),
            ],
        );
        Redaction::new()
            .path("/text")
            .path("")
            .placeholder("X")
            .apply_to_trace(&mut trace);
        let parts: Vec<StreamPart> = trace.spans[0]
            .parts
            .iter()
            .map(|p| p.part.clone())
            .collect();
        assert_eq!(
            parts,
            vec![
                StreamPart::text("X"),
                StreamPart::RoleDelta {
                    role: Role::Assistant
                },
                StreamPart::finish(FinishReason::new(crate::model::FinishKind::Stop, "X")),
                StreamPart::ToolCallStart {
                    id: "X".into(),
                    name: "X".into()
                },
            ]
        );
        assert_eq!(trace.spans[0].parts[0].offset_us, 5);
    }

    #[test]
    fn an_empty_redaction_changes_nothing() {
        let original = trace_with(
            json!({"a": 1}),
            json!("x"),
            vec![part(StreamPart::text("t"))],
        );
        let mut trace = original.clone();
        Redaction::new().apply_to_trace(&mut trace);
        assert_eq!(trace, original);
        assert!(Redaction::new().is_empty());
        assert_eq!(Redaction::default().placeholder_text(), DEFAULT_PLACEHOLDER);
    }

    #[test]
    fn try_path_refuses_invalid_pointers() {
        assert!(matches!(
            Redaction::new().try_path("no-slash"),
            Err(CassetteError::InvalidPointer { .. })
        ));
        let lenient = Redaction::new().path("no-slash");
        assert_eq!(lenient.paths().collect::<Vec<_>>(), vec!["/no-slash"]);
    }
}

//! Redacting a streamed call consistently: its parts add up to its output
//! (text, reasoning, refusal, tool calls), so whatever redaction hides in the
//! one it hides in the other, and the redacted parts still add up to the
//! redacted output.
//!
//! Without this, a path on the output (`/reasoning`,
//! `/tool_calls/*/arguments`) would leave the same content readable in the
//! parts, and a replay of the redacted recording would stream one placeholder
//! per part (`[REDACTED][REDACTED]…`) where the recorded output holds one.

use serde_json::{Map, Value};

use crate::model::StreamPart;
use crate::span::{RecordedPart, Span, SpanKind};

/// The text-like content a stream's deltas add up to, by output field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Text,
    Reasoning,
    Refusal,
}

impl Piece {
    const ALL: [Piece; 3] = [Piece::Text, Piece::Reasoning, Piece::Refusal];

    /// The [`ModelResponse`](crate::ModelResponse) field the deltas add up to.
    fn field(self) -> &'static str {
        match self {
            Piece::Text => "text",
            Piece::Reasoning => "reasoning",
            Piece::Refusal => "refusal",
        }
    }

    /// The delta text of `part`, if it is a delta of this piece.
    fn delta(self, part: &StreamPart) -> Option<&String> {
        match (self, part) {
            (Piece::Text, StreamPart::TextDelta { text })
            | (Piece::Reasoning, StreamPart::ReasoningDelta { text })
            | (Piece::Refusal, StreamPart::RefusalDelta { text }) => Some(text),
            _ => None,
        }
    }

    fn delta_mut(self, part: &mut StreamPart) -> Option<&mut String> {
        match (self, part) {
            (Piece::Text, StreamPart::TextDelta { text })
            | (Piece::Reasoning, StreamPart::ReasoningDelta { text })
            | (Piece::Refusal, StreamPart::RefusalDelta { text }) => Some(text),
            _ => None,
        }
    }
}

/// Makes a redacted streamed `llm` span consistent: `before_output` and
/// `before_parts` are its output and parts before redaction, `span` holds
/// them after the paths were applied to each.
///
/// For each piece of content (text, reasoning, refusal, each tool call's
/// name and arguments) that redaction changed in the output *or* in any
/// part: the output holds the redacted value (the placeholder when only a
/// part was hit), the first part that carried some of it carries all of it,
/// and the later ones carry nothing. Parts keep their type and offset, and
/// the first content part stays content, so TTFT replays unchanged.
pub(super) fn align_stream(
    span: &mut Span,
    before_output: Option<&Value>,
    before_parts: &[RecordedPart],
    placeholder: &str,
) {
    if span.kind != SpanKind::Llm || !span.streamed || span.parts.len() != before_parts.len() {
        return;
    }
    let before = before_output.and_then(Value::as_object);
    for piece in Piece::ALL {
        align_piece(span, before, before_parts, piece, placeholder);
    }
    align_tool_calls(span, before, before_parts, placeholder);
}

/// How redaction changed one output value: `None` if it did not; else the
/// value the output now holds there (`None` inside when the output lost it,
/// e.g. the whole output was replaced).
fn output_change(
    before: Option<&Map<String, Value>>,
    after: Option<&Value>,
    at: &dyn Fn(&Map<String, Value>) -> Option<&Value>,
) -> Option<Option<Value>> {
    let before = before?;
    let was = at(before);
    match after {
        Some(Value::Object(after)) => {
            let now = at(after);
            (now != was).then(|| now.cloned())
        }
        // The whole output was replaced: everything in it is hidden.
        _ => was.is_some().then_some(None),
    }
}

fn align_piece(
    span: &mut Span,
    before: Option<&Map<String, Value>>,
    before_parts: &[RecordedPart],
    piece: Piece,
    placeholder: &str,
) {
    let field = piece.field();
    let changed_in_output = output_change(before, span.output.as_deref(), &|o| o.get(field));
    let changed_in_parts = span
        .parts
        .iter()
        .zip(before_parts)
        .any(|(now, was)| piece.delta(&now.part) != piece.delta(&was.part));
    if changed_in_output.is_none() && !changed_in_parts {
        return;
    }
    // The deltas that carried something, before redaction.
    let carriers: Vec<usize> = (0..before_parts.len())
        .filter(|&i| {
            piece
                .delta(&before_parts[i].part)
                .is_some_and(|t| !t.is_empty())
        })
        .collect();
    let Some(&carrier) = carriers.first() else {
        // Nothing was streamed: an empty output hid nothing and stays empty.
        let was_empty = before.and_then(|b| b.get(field)).and_then(Value::as_str) == Some("");
        if let (true, Some(Value::Object(output))) = (was_empty, span.output.as_deref_mut()) {
            output.insert(field.to_owned(), Value::String(String::new()));
        }
        return;
    };
    let hidden = changed_in_output
        .flatten()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| placeholder.to_owned());
    for (i, part) in span.parts.iter_mut().enumerate() {
        if let Some(delta) = piece.delta_mut(&mut part.part) {
            *delta = if i == carrier {
                hidden.clone()
            } else {
                String::new()
            };
        }
    }
    if let Some(Value::Object(output)) = span.output.as_deref_mut() {
        output.insert(field.to_owned(), Value::String(hidden));
    }
}

/// For each part, the index of the tool call it belongs to in the output, as
/// [`ResponseAccumulator`](crate::model::ResponseAccumulator) assigns them: a start
/// opens a call, a delta joins the latest call with its id (or opens one).
fn tool_call_of_parts(parts: &[RecordedPart]) -> Vec<Option<usize>> {
    let mut ids: Vec<&str> = Vec::new();
    parts
        .iter()
        .map(|p| match &p.part {
            StreamPart::ToolCallStart { id, .. } => {
                ids.push(id);
                Some(ids.len() - 1)
            }
            StreamPart::ToolCallDelta { id, .. } => {
                Some(ids.iter().rposition(|c| c == id).unwrap_or_else(|| {
                    ids.push(id);
                    ids.len() - 1
                }))
            }
            _ => None,
        })
        .collect()
}

fn tool_call_field<'a>(
    output: &'a Map<String, Value>,
    call: usize,
    field: &str,
) -> Option<&'a Value> {
    output.get("tool_calls")?.get(call)?.get(field)
}

fn set_tool_call_field(span: &mut Span, call: usize, field: &str, value: Value) {
    if let Some(Value::Object(call)) = span
        .output
        .as_mut()
        .and_then(|o| o.get_mut("tool_calls"))
        .and_then(|calls| calls.get_mut(call))
    {
        call.insert(field.to_owned(), value);
    }
}

fn align_tool_calls(
    span: &mut Span,
    before: Option<&Map<String, Value>>,
    before_parts: &[RecordedPart],
    placeholder: &str,
) {
    let call_of = tool_call_of_parts(before_parts);
    let calls = call_of.iter().flatten().max().map_or(0, |n| n + 1);
    for call in 0..calls {
        let mine = |i: &usize| call_of[*i] == Some(call);
        let starts: Vec<usize> = (0..before_parts.len())
            .filter(mine)
            .filter(|&i| matches!(before_parts[i].part, StreamPart::ToolCallStart { .. }))
            .collect();
        let deltas: Vec<usize> = (0..before_parts.len())
            .filter(mine)
            .filter(|&i| matches!(before_parts[i].part, StreamPart::ToolCallDelta { .. }))
            .collect();
        align_tool_name(span, before, before_parts, call, &starts, placeholder);
        align_tool_arguments(span, before, before_parts, call, &deltas, placeholder);
    }
}

fn align_tool_name(
    span: &mut Span,
    before: Option<&Map<String, Value>>,
    before_parts: &[RecordedPart],
    call: usize,
    starts: &[usize],
    placeholder: &str,
) {
    let name = |part: &StreamPart| match part {
        StreamPart::ToolCallStart { name, .. } => Some(name.clone()),
        _ => None,
    };
    let changed_in_output = output_change(before, span.output.as_deref(), &|o| {
        tool_call_field(o, call, "name")
    });
    let changed_in_parts = starts
        .iter()
        .any(|&i| name(&span.parts[i].part) != name(&before_parts[i].part));
    if changed_in_output.is_none() && !changed_in_parts {
        return;
    }
    let hidden = changed_in_output
        .flatten()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| placeholder.to_owned());
    for &i in starts {
        let was_empty = name(&before_parts[i].part).is_some_and(|n| n.is_empty());
        if let StreamPart::ToolCallStart { name, .. } = &mut span.parts[i].part {
            // An empty name is framing; it stays empty, so TTFT does not move.
            *name = if was_empty {
                String::new()
            } else {
                hidden.clone()
            };
        }
    }
    if starts.is_empty() {
        return;
    }
    let first = name(&span.parts[starts[0]].part).unwrap_or_default();
    set_tool_call_field(span, call, "name", Value::String(first));
}

fn align_tool_arguments(
    span: &mut Span,
    before: Option<&Map<String, Value>>,
    before_parts: &[RecordedPart],
    call: usize,
    deltas: &[usize],
    placeholder: &str,
) {
    let arguments = |part: &StreamPart| match part {
        StreamPart::ToolCallDelta { arguments, .. } => Some(arguments.clone()),
        _ => None,
    };
    let changed_in_output = output_change(before, span.output.as_deref(), &|o| {
        tool_call_field(o, call, "arguments")
    });
    let changed_in_parts = deltas
        .iter()
        .any(|&i| arguments(&span.parts[i].part) != arguments(&before_parts[i].part));
    if changed_in_output.is_none() && !changed_in_parts {
        return;
    }
    let carrier = deltas
        .iter()
        .copied()
        .find(|&i| arguments(&before_parts[i].part).is_some_and(|a| !a.is_empty()));
    let Some(carrier) = carrier else {
        // No arguments streamed (the output holds `{}`): nothing to hide.
        if let Some(was) = before.and_then(|b| tool_call_field(b, call, "arguments")) {
            let was = was.clone();
            set_tool_call_field(span, call, "arguments", was);
        }
        return;
    };
    let hidden = changed_in_output
        .flatten()
        .unwrap_or_else(|| Value::String(placeholder.to_owned()));
    let text = arguments_text(&hidden);
    for &i in deltas {
        if let StreamPart::ToolCallDelta { arguments, .. } = &mut span.parts[i].part {
            *arguments = if i == carrier {
                text.clone()
            } else {
                String::new()
            };
        }
    }
    set_tool_call_field(span, call, "arguments", hidden);
}

/// The streamed text whose arguments the accumulator reads back as `value`:
/// a JSON string that is not itself JSON is its raw text (`[REDACTED]`),
/// anything else its JSON.
fn arguments_text(value: &Value) -> String {
    match value {
        Value::String(raw)
            if !raw.trim().is_empty() && serde_json::from_str::<Value>(raw).is_err() =>
        {
            raw.clone()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cassette::Redaction;
    use crate::model::{FinishReason, ModelInfo, ModelResponse, ResponseAccumulator};
    use crate::span::Trace;

    fn tool_start(id: &str, name: &str) -> StreamPart {
        StreamPart::ToolCallStart {
            id: id.into(),
            name: name.into(),
        }
    }

    fn tool_delta(id: &str, arguments: &str) -> StreamPart {
        StreamPart::ToolCallDelta {
            id: id.into(),
            arguments: arguments.into(),
        }
    }

    fn added_up(parts: &[RecordedPart]) -> ModelResponse {
        let mut acc = ResponseAccumulator::new(ModelInfo::new("p", "m"));
        parts.iter().for_each(|p| acc.push(&p.part));
        acc.finish()
    }

    /// A streamed call of `parts`, whose output is what they add up to.
    fn streamed(parts: Vec<StreamPart>) -> Trace {
        let parts: Vec<RecordedPart> = parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| RecordedPart {
                offset_us: 10 * i as u64,
                part,
            })
            .collect();
        let output = serde_json::to_value(added_up(&parts)).unwrap();
        Trace {
            spans: vec![Span {
                input: json!({}).into(),
                output: Some(output.into()),
                model: Some(ModelInfo::new("p", "m")),
                streamed: true,
                parts,
                ..Span::fixture(0, None, "k", SpanKind::Llm)
            }],
        }
    }

    fn redacted(trace: &Trace, redaction: Redaction) -> Span {
        let mut trace = trace.clone();
        redaction.apply_to_trace(&mut trace);
        trace.spans.remove(0)
    }

    fn assert_adds_up(span: &Span) {
        let output: ModelResponse =
            serde_json::from_value(span.output.clone().unwrap().into()).unwrap();
        assert_eq!(added_up(&span.parts), output, "{span:#?}");
    }

    fn session() -> Trace {
        streamed(vec![
            StreamPart::StreamStart,
            StreamPart::reasoning(""),
            StreamPart::reasoning("think "),
            StreamPart::reasoning("hard"),
            tool_start("a", "lookup"),
            tool_delta("a", "{\"q\":"),
            tool_start("b", "fetch"),
            tool_delta("a", "\"secret\"}"),
            tool_delta("b", "{\"url\":\"x\"}"),
            StreamPart::text("Hel"),
            StreamPart::text("lo"),
            StreamPart::RefusalDelta { text: "no".into() },
            StreamPart::finish(FinishReason::stop()),
        ])
    }

    #[test]
    fn an_output_path_hides_the_parts_that_add_up_to_it() {
        let span = redacted(
            &session(),
            Redaction::new()
                .path("/reasoning")
                .path("/refusal")
                .path("/tool_calls/0/arguments")
                .path("/tool_calls/1/name"),
        );
        assert_adds_up(&span);
        let text = serde_json::to_string(&span).unwrap();
        for hidden in ["think", "hard", "secret", "fetch", "\"no\""] {
            assert!(!text.contains(hidden), "{hidden} is still there: {text}");
        }
        let output = span.response().unwrap();
        assert_eq!(output.reasoning, "[REDACTED]");
        assert_eq!(output.refusal, "[REDACTED]");
        assert_eq!(output.tool_calls[0].arguments, json!("[REDACTED]"));
        assert_eq!(output.tool_calls[1].name, "[REDACTED]");
        // What was not listed is untouched.
        assert_eq!(output.text, "Hello");
        assert_eq!(output.tool_calls[1].arguments, json!({"url": "x"}));
        assert_eq!(output.tool_calls[0].name, "lookup");
    }

    #[test]
    fn redacted_deltas_add_up_to_one_placeholder_and_keep_ttft() {
        let original = session();
        let span = redacted(&original, Redaction::new().path("/text"));
        assert_adds_up(&span);
        assert_eq!(span.response().unwrap().text, "[REDACTED]");
        let texts: Vec<&StreamPart> = span
            .parts
            .iter()
            .map(|p| &p.part)
            .filter(|p| matches!(p, StreamPart::TextDelta { .. }))
            .collect();
        assert_eq!(
            texts,
            [&StreamPart::text("[REDACTED]"), &StreamPart::text("")]
        );
        // Every part keeps its type and offset, and the first content part
        // is the same part: TTFT replays unchanged.
        let shape = |s: &Span| -> Vec<(u64, std::mem::Discriminant<StreamPart>)> {
            s.parts
                .iter()
                .map(|p| (p.offset_us, std::mem::discriminant(&p.part)))
                .collect()
        };
        assert_eq!(shape(&span), shape(&original.spans[0]));
        let first_content = |s: &Span| s.parts.iter().position(|p| p.part.is_content());
        assert_eq!(first_content(&span), first_content(&original.spans[0]));
    }

    #[test]
    fn a_path_inside_the_arguments_streams_the_redacted_arguments() {
        let span = redacted(
            &session(),
            Redaction::new().path("/tool_calls/*/arguments/q"),
        );
        assert_adds_up(&span);
        let output = span.response().unwrap();
        assert_eq!(output.tool_calls[0].arguments, json!({"q": "[REDACTED]"}));
        assert_eq!(output.tool_calls[1].arguments, json!({"url": "x"}));
    }

    #[test]
    fn a_part_path_hides_the_output_it_adds_up_to() {
        // `/arguments` matches only the parts; the output follows them.
        let span = redacted(&session(), Redaction::new().path("/arguments"));
        assert_adds_up(&span);
        let output = span.response().unwrap();
        assert_eq!(output.tool_calls[0].arguments, json!("[REDACTED]"));
        assert_eq!(output.tool_calls[1].arguments, json!("[REDACTED]"));
        assert!(!serde_json::to_string(&span).unwrap().contains("secret"));
    }

    #[test]
    fn content_that_was_never_streamed_stays_empty() {
        let tools_only = streamed(vec![
            tool_start("a", "lookup"),
            StreamPart::finish(FinishReason::tool_calls()),
        ]);
        let span = redacted(
            &tools_only,
            Redaction::new()
                .path("/text")
                .path("/tool_calls/*/arguments"),
        );
        assert_adds_up(&span);
        assert_eq!(span.response().unwrap().text, "");
    }

    #[test]
    fn a_whole_output_replaced_hides_every_piece_of_content() {
        let span = redacted(&session(), Redaction::new().path(""));
        let text = serde_json::to_string(&span.parts).unwrap();
        for hidden in ["think", "secret", "lookup", "fetch", "Hel", "\"no\""] {
            assert!(!text.contains(hidden), "{hidden} is still there: {text}");
        }
    }
}

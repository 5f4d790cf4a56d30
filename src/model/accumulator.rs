use serde_json::Value;

use super::{FinishReason, ModelInfo, ModelResponse, StreamPart, ToolCall, Usage};

/// Folds stream parts into the [`ModelResponse`] they add up to.
///
/// Used by the recorder to summarize a streamed call, by adapters and test
/// doubles to answer `generate` from a stream, and by users who want the
/// whole answer of a stream they consumed.
///
/// ```
/// use tracedeck::StreamPart;
/// use tracedeck::model::{ModelInfo, ResponseAccumulator};
/// let mut acc = ResponseAccumulator::new(ModelInfo::new("scripted", "m"));
/// acc.push(&StreamPart::text("Hel"));
/// acc.push(&StreamPart::text("lo"));
/// assert_eq!(acc.finish().text, "Hello");
/// ```
#[derive(Debug, Clone)]
pub struct ResponseAccumulator {
    model: ModelInfo,
    text: String,
    reasoning: String,
    refusal: String,
    calls: Vec<(String, String, String)>,
    usage: Option<Usage>,
    finish_reason: Option<FinishReason>,
}

impl ResponseAccumulator {
    /// An empty accumulator for a call served by `model`.
    pub fn new(model: ModelInfo) -> Self {
        Self {
            model,
            text: String::new(),
            reasoning: String::new(),
            refusal: String::new(),
            calls: Vec::new(),
            usage: None,
            finish_reason: None,
        }
    }

    /// Makes room for `additional` more bytes of visible text, so a caller
    /// that knows the whole text's length grows it once.
    pub(crate) fn reserve_text(&mut self, additional: usize) {
        self.text.reserve(additional);
    }

    /// Adds one part.
    pub fn push(&mut self, part: &StreamPart) {
        match part {
            StreamPart::TextDelta { text } => self.text.push_str(text),
            StreamPart::ReasoningDelta { text } => self.reasoning.push_str(text),
            StreamPart::RefusalDelta { text } => self.refusal.push_str(text),
            StreamPart::ToolCallStart { id, name } => {
                self.calls.push((id.clone(), name.clone(), String::new()))
            }
            StreamPart::ToolCallDelta { id, arguments } => {
                match self.calls.iter_mut().rev().find(|(cid, _, _)| cid == id) {
                    Some((_, _, args)) => args.push_str(arguments),
                    None => self
                        .calls
                        .push((id.clone(), String::new(), arguments.clone())),
                }
            }
            StreamPart::ResponseMetadata {
                model: Some(model), ..
            } => self.model.model = model.clone(),
            StreamPart::Usage { usage } => self.usage = Some(*usage),
            StreamPart::Finish { reason, usage } => {
                self.finish_reason = Some(reason.clone());
                if usage.is_some() {
                    self.usage = *usage;
                }
            }
            StreamPart::StreamStart
            | StreamPart::ResponseMetadata { .. }
            | StreamPart::RoleDelta { .. }
            | StreamPart::KeepAlive
            | StreamPart::BlockStart { .. }
            | StreamPart::BlockStop { .. }
            | StreamPart::RedactedReasoning { .. } => {}
        }
    }

    /// The response the parts so far add up to. Tool call arguments that are
    /// not valid JSON are kept as a JSON string of the raw text; empty
    /// arguments become `{}`.
    pub fn finish(self) -> ModelResponse {
        let tool_calls = self
            .calls
            .into_iter()
            .map(|(id, name, args)| ToolCall {
                id,
                name,
                arguments: parse_arguments(&args),
            })
            .collect();
        ModelResponse {
            text: self.text,
            reasoning: self.reasoning,
            refusal: self.refusal,
            tool_calls,
            usage: self.usage,
            finish_reason: self.finish_reason,
            model: self.model,
        }
    }
}

fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{FinishKind, Role};

    fn accumulate(parts: &[StreamPart]) -> ModelResponse {
        let mut acc = ResponseAccumulator::new(ModelInfo::new("p", "requested"));
        for part in parts {
            acc.push(part);
        }
        acc.finish()
    }

    fn start(id: &str, name: &str) -> StreamPart {
        StreamPart::ToolCallStart {
            id: id.into(),
            name: name.into(),
        }
    }

    fn delta(id: &str, arguments: &str) -> StreamPart {
        StreamPart::ToolCallDelta {
            id: id.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn text_reasoning_and_refusal_accumulate_separately_and_framing_adds_nothing() {
        let response = accumulate(&[
            StreamPart::StreamStart,
            StreamPart::RoleDelta {
                role: Role::Assistant,
            },
            StreamPart::reasoning("let me "),
            StreamPart::text("Hel"),
            StreamPart::KeepAlive,
            StreamPart::reasoning("think"),
            StreamPart::text("lo"),
            StreamPart::RefusalDelta {
                text: "partly".into(),
            },
            StreamPart::RedactedReasoning {
                data: "opaque".into(),
            },
        ]);
        assert_eq!(response.text, "Hello");
        assert_eq!(response.reasoning, "let me think");
        assert_eq!(response.refusal, "partly");
        assert!(response.tool_calls.is_empty());
        assert_eq!((response.usage, response.finish_reason), (None, None));
    }

    #[test]
    fn interleaved_tool_call_deltas_join_their_own_call() {
        let response = accumulate(&[
            start("a", "search"),
            start("b", "fetch"),
            delta("a", "{\"q\":"),
            delta("b", "{\"url\":\"x\"}"),
            delta("a", "\"rust\"}"),
        ]);
        let calls: Vec<_> = response
            .tool_calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.clone()))
            .collect();
        assert_eq!(
            calls,
            [
                ("a", "search", json!({"q": "rust"})),
                ("b", "fetch", json!({"url": "x"}))
            ]
        );
    }

    #[test]
    fn arguments_that_are_not_json_are_kept_as_text_and_empty_ones_are_an_empty_object() {
        let response = accumulate(&[
            start("a", "broken"),
            delta("a", "{\"q\": tru"),
            start("b", "no_args"),
            delta("c", "{}"),
        ]);
        assert_eq!(response.tool_calls[0].arguments, json!("{\"q\": tru"));
        assert_eq!(response.tool_calls[1].arguments, json!({}));
        // A delta for a call that never started still keeps its arguments.
        assert_eq!(response.tool_calls[2].id, "c");
        assert_eq!(response.tool_calls[2].name, "");
        assert_eq!(response.tool_calls[2].arguments, json!({}));
    }

    #[test]
    fn metadata_names_the_serving_model_and_the_last_usage_wins() {
        let response = accumulate(&[
            StreamPart::ResponseMetadata {
                id: Some("resp_1".into()),
                model: Some("served-2025".into()),
            },
            StreamPart::ResponseMetadata {
                id: None,
                model: None,
            },
            StreamPart::Usage {
                usage: Usage::new(10, 1),
            },
            StreamPart::finish(FinishReason::tool_calls()),
        ]);
        assert_eq!(response.model, ModelInfo::new("p", "served-2025"));
        assert_eq!(
            response.usage,
            Some(Usage::new(10, 1)),
            "a finish without usage keeps it"
        );
        assert_eq!(response.finish_reason.unwrap().kind, FinishKind::ToolCalls);

        let response = accumulate(&[
            StreamPart::Usage {
                usage: Usage::new(10, 1),
            },
            StreamPart::Finish {
                reason: FinishReason::length(),
                usage: Some(Usage::new(10, 7)),
            },
        ]);
        assert_eq!(response.usage, Some(Usage::new(10, 7)));
    }
}

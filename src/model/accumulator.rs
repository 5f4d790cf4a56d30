use serde_json::Value;

use super::{FinishReason, ModelInfo, ModelResponse, StreamPart, ToolCall, Usage};

/// Folds stream parts into the [`ModelResponse`] they add up to.
///
/// Used by the recorder to summarize a streamed call, by adapters and test
/// doubles to answer `generate` from a stream, and by users who want the
/// whole answer of a stream they consumed.
///
/// ```
/// use tracedeck::{ModelInfo, ResponseAccumulator, StreamPart};
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

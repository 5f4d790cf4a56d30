//! Parts back to Chat Completions: `data: {chunk}` events ending with
//! `data: [DONE]`, and the non-streamed `chat.completion` body.

use serde_json::{Map, Value, json};

use super::mapping::chat_finish;
use crate::model::{FinishKind, FinishReason, ModelResponse, StreamPart, Usage};
use crate::providers::codec::SseWriter;
use crate::providers::codec::{PartEncoder, StreamEnd, StreamError, finish_word};

/// The `finish_reason` to send for `reason`.
fn finish_string(reason: &FinishReason) -> String {
    finish_word(reason, chat_finish, |kind| match kind {
        FinishKind::Stop => Some("stop"),
        FinishKind::Length => Some("length"),
        FinishKind::ToolCalls => Some("tool_calls"),
        FinishKind::ContentFilter => Some("content_filter"),
        FinishKind::Error => Some("error"),
        _ => None,
    })
}

/// A [`Usage`] as a Chat Completions `usage` object.
fn usage_json(usage: &Usage) -> Value {
    let mut object = json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens(),
    });
    if let Some(cached) = usage.cached_input_tokens {
        object["prompt_tokens_details"] = json!({"cached_tokens": cached});
    }
    if let Some(reasoning) = usage.reasoning_tokens {
        object["completion_tokens_details"] = json!({"reasoning_tokens": reasoning});
    }
    object
}

/// Writes a Chat Completions stream, part by part.
#[derive(Debug)]
pub(crate) struct ChatEncoder {
    /// The id and model every chunk names, once the metadata is sent.
    id: String,
    model: String,
    metadata_sent: bool,
    role_sent: bool,
    /// Tool calls by id, with the index their chunks name.
    calls: Vec<(String, u64)>,
    usage_sent: Option<Usage>,
    /// The recording goes on to an error: no `[DONE]`.
    fails: bool,
    done: bool,
}

impl ChatEncoder {
    /// An encoder for a recording that ends in an error when `fails`.
    pub(crate) fn new(fails: bool) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            metadata_sent: false,
            role_sent: false,
            calls: Vec::new(),
            usage_sent: None,
            fails,
            done: false,
        }
    }

    fn chunk(&self, choices: Value) -> Map<String, Value> {
        let mut chunk = Map::new();
        chunk.insert("id".into(), Value::String(self.id.clone()));
        chunk.insert("object".into(), json!("chat.completion.chunk"));
        chunk.insert("created".into(), json!(0));
        chunk.insert("model".into(), Value::String(self.model.clone()));
        chunk.insert("choices".into(), choices);
        chunk
    }

    fn delta(&self, delta: Value, out: &mut SseWriter) {
        let chunk = self.chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}]));
        out.event(None, &Value::Object(chunk));
    }

    /// The index of call `id`, opening it (with `name`) if it is new or `start`.
    fn call_index(&mut self, id: &str, start: bool) -> (u64, bool) {
        if !start {
            if let Some((_, index)) = self.calls.iter().rev().find(|(c, _)| c == id) {
                return (*index, false);
            }
        }
        let index = self.calls.len() as u64;
        self.calls.push((id.to_owned(), index));
        (index, true)
    }
}

impl PartEncoder for ChatEncoder {
    fn part(&mut self, parts: &[StreamPart], at: usize, out: &mut SseWriter) -> usize {
        if self.done {
            return 1;
        }
        match &parts[at] {
            StreamPart::ResponseMetadata { id, model } => {
                if !self.metadata_sent {
                    self.metadata_sent = true;
                    self.id = id.clone().unwrap_or_default();
                    self.model = model.clone().unwrap_or_default();
                    if id.is_some() || model.is_some() {
                        out.event(None, &Value::Object(self.chunk(json!([]))));
                    }
                }
            }
            StreamPart::RoleDelta { .. } => {
                if !self.role_sent {
                    self.role_sent = true;
                    self.delta(json!({"role": "assistant", "content": ""}), out);
                }
            }
            StreamPart::KeepAlive => out.comment("keep-alive"),
            StreamPart::TextDelta { text } if !text.is_empty() => {
                self.delta(json!({"content": text}), out)
            }
            StreamPart::ReasoningDelta { text } if !text.is_empty() => {
                self.delta(json!({"reasoning_content": text}), out)
            }
            StreamPart::RefusalDelta { text } if !text.is_empty() => {
                self.delta(json!({"refusal": text}), out)
            }
            StreamPart::ToolCallStart { id, name } => {
                let (index, _) = self.call_index(id, true);
                let call = json!({"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}});
                self.delta(json!({"tool_calls": [call]}), out);
            }
            StreamPart::ToolCallDelta { id, arguments } if !arguments.is_empty() => {
                let (index, opened) = self.call_index(id, false);
                let call = if opened {
                    json!({"index": index, "id": id, "type": "function",
                        "function": {"arguments": arguments}})
                } else {
                    json!({"index": index, "function": {"arguments": arguments}})
                };
                self.delta(json!({"tool_calls": [call]}), out);
            }
            StreamPart::Usage { usage } => {
                self.usage_sent = Some(*usage);
                let mut chunk = self.chunk(json!([]));
                chunk.insert("usage".into(), usage_json(usage));
                out.event(None, &Value::Object(chunk));
            }
            StreamPart::Finish { reason, usage } => {
                let raw = finish_string(reason);
                let usage = usage.filter(|u| self.usage_sent != Some(*u));
                if !raw.is_empty() || usage.is_some() {
                    let mut chunk = self.chunk(json!([{"index": 0, "delta": {},
                        "finish_reason": if raw.is_empty() { Value::Null } else { Value::String(raw) }}]));
                    if let Some(usage) = usage {
                        self.usage_sent = Some(usage);
                        chunk.insert("usage".into(), usage_json(&usage));
                    }
                    out.event(None, &Value::Object(chunk));
                }
                if !self.fails {
                    self.done = true;
                    out.raw_data("[DONE]");
                }
            }
            // Empty deltas carry nothing; Chat Completions has no blocks,
            // no stream-start event and no redacted reasoning.
            StreamPart::TextDelta { .. }
            | StreamPart::ReasoningDelta { .. }
            | StreamPart::RefusalDelta { .. }
            | StreamPart::ToolCallDelta { .. }
            | StreamPart::StreamStart
            | StreamPart::BlockStart { .. }
            | StreamPart::BlockStop { .. }
            | StreamPart::RedactedReasoning { .. } => {}
        }
        1
    }

    fn end(&mut self, error: Option<&StreamError>, out: &mut SseWriter) -> StreamEnd {
        if self.done {
            return StreamEnd::Close;
        }
        match error {
            None => {
                self.done = true;
                out.raw_data("[DONE]");
                StreamEnd::Close
            }
            Some(StreamError::Event { kind, message }) => {
                out.event(
                    None,
                    &json!({"error": {"message": message, "type": kind, "param": null, "code": kind}}),
                );
                StreamEnd::Close
            }
            Some(StreamError::Undecodable) => {
                out.raw_data("<undecodable event>");
                StreamEnd::Close
            }
            Some(StreamError::Truncate) => StreamEnd::Close,
            Some(StreamError::Break) => StreamEnd::Break,
        }
    }
}

/// A [`ModelResponse`] as a non-streamed `chat.completion` body.
pub(crate) fn chat_response_body(response: &ModelResponse) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": if response.text.is_empty() { Value::Null } else { Value::String(response.text.clone()) },
    });
    if !response.reasoning.is_empty() {
        message["reasoning_content"] = Value::String(response.reasoning.clone());
    }
    if !response.refusal.is_empty() {
        message["refusal"] = Value::String(response.refusal.clone());
    }
    if !response.tool_calls.is_empty() {
        let calls: Vec<Value> = response
            .tool_calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": arguments_text(&call.arguments)}})
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    let finish = response
        .finish_reason
        .as_ref()
        .map(finish_string)
        .filter(|raw| !raw.is_empty());
    let mut body = json!({
        "id": "",
        "object": "chat.completion",
        "created": 0,
        "model": response.model.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    });
    if let Some(usage) = &response.usage {
        body["usage"] = usage_json(usage);
    }
    body
}

/// Tool call arguments as the JSON text OpenAI's APIs send: a string the
/// accumulator kept because it was not JSON goes back as its raw text.
pub(crate) fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

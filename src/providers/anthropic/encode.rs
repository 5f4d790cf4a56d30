//! Parts back to Anthropic Messages: `message_start`, content blocks,
//! `message_delta` and `message_stop` events, and the non-streamed
//! `message` body.

use serde_json::{Value, json};

use super::mapping::anthropic_finish;
use crate::model::{FinishKind, FinishReason, ModelResponse, StreamPart, Usage};
use crate::providers::codec::SseWriter;
use crate::providers::codec::{PartEncoder, StreamEnd, StreamError, finish_word, next_content};

/// The `stop_reason` to send for `reason` (`""`: none).
fn stop_reason(reason: &FinishReason) -> String {
    finish_word(reason, anthropic_finish, |kind| match kind {
        FinishKind::Stop => Some("end_turn"),
        FinishKind::Length => Some("max_tokens"),
        FinishKind::ToolCalls => Some("tool_use"),
        FinishKind::ContentFilter => Some("refusal"),
        _ => None,
    })
}

fn stop_value(reason: &FinishReason) -> Value {
    let raw = stop_reason(reason);
    if raw.is_empty() {
        Value::Null
    } else {
        Value::String(raw)
    }
}

/// A [`Usage`] as Anthropic reports it: `input_tokens` without the prompt
/// tokens read from or written to the cache, which are reported apart.
fn usage_json(usage: &Usage) -> Value {
    let input = usage
        .input_tokens
        .saturating_sub(usage.cached_input_tokens.unwrap_or(0))
        .saturating_sub(usage.cache_creation_input_tokens.unwrap_or(0));
    let mut object = json!({"input_tokens": input, "output_tokens": usage.output_tokens});
    if let Some(read) = usage.cached_input_tokens {
        object["cache_read_input_tokens"] = json!(read);
    }
    if let Some(created) = usage.cache_creation_input_tokens {
        object["cache_creation_input_tokens"] = json!(created);
    }
    object
}

/// What a content block holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    Tool(String),
}

/// The block content goes into.
#[derive(Debug, Clone)]
struct Open {
    index: u32,
    kind: Kind,
    /// Opened by the encoder (no `BlockStart` part): the encoder closes it.
    synthesized: bool,
}

/// Writes a Messages stream, part by part.
#[derive(Debug)]
pub(crate) struct MessagesEncoder {
    started: bool,
    /// The usage `message_start` reports: the first the recording has.
    start_usage: Option<Usage>,
    open: Option<Open>,
    next_index: u32,
    /// Tool-use blocks by call id.
    tools: Vec<(String, u32)>,
    usage_sent: Option<Usage>,
    fails: bool,
    done: bool,
}

impl MessagesEncoder {
    /// An encoder for `parts`, which end in an error when `fails`.
    pub(crate) fn new(parts: &[StreamPart], fails: bool) -> Self {
        let start_usage = parts.iter().find_map(|p| match p {
            StreamPart::Usage { usage } => Some(*usage),
            StreamPart::Finish { usage, .. } => *usage,
            _ => None,
        });
        Self {
            started: false,
            start_usage,
            open: None,
            next_index: 0,
            tools: Vec::new(),
            usage_sent: None,
            fails,
            done: false,
        }
    }

    fn start(&mut self, id: Option<&str>, model: Option<&str>, out: &mut SseWriter) {
        if self.started {
            return;
        }
        self.started = true;
        // The decoder carries what `message_start` reports to the finish.
        self.usage_sent = self.start_usage;
        let mut message = json!({
            "id": id.unwrap_or_default(), "type": "message", "role": "assistant",
            "model": model.unwrap_or_default(), "content": [],
            "stop_reason": null, "stop_sequence": null,
        });
        if let Some(usage) = &self.start_usage {
            message["usage"] = usage_json(usage);
        }
        out.event(
            Some("message_start"),
            &json!({"type": "message_start", "message": message}),
        );
    }

    fn block_start(&mut self, index: u32, block: Value, out: &mut SseWriter) {
        self.next_index = self.next_index.max(index.saturating_add(1));
        out.event(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
    }

    fn block_stop(index: u32, out: &mut SseWriter) {
        out.event(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": index}),
        );
    }

    /// Closes the current block if the encoder opened it.
    fn close_synthesized(&mut self, out: &mut SseWriter) {
        if let Some(open) = self.open.take_if(|o| o.synthesized) {
            Self::block_stop(open.index, out);
        }
    }

    /// The index of an open block of `kind`, opening one if needed.
    fn block_for(&mut self, kind: Kind, out: &mut SseWriter) -> u32 {
        if let Some(open) = self.open.as_ref().filter(|o| o.kind == kind) {
            return open.index;
        }
        self.close_synthesized(out);
        let index = self.next_index;
        let block = match &kind {
            Kind::Text => json!({"type": "text", "text": ""}),
            Kind::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Kind::Tool(id) => {
                self.tools.push((id.clone(), index));
                json!({"type": "tool_use", "id": id, "name": "", "input": {}})
            }
        };
        self.block_start(index, block, out);
        self.open = Some(Open {
            index,
            kind,
            synthesized: true,
        });
        index
    }

    fn tool_block(
        &mut self,
        id: &str,
        name: &str,
        index: u32,
        synthesized: bool,
        out: &mut SseWriter,
    ) {
        self.tools.push((id.to_owned(), index));
        self.block_start(
            index,
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
            out,
        );
        self.open = Some(Open {
            index,
            kind: Kind::Tool(id.to_owned()),
            synthesized,
        });
    }

    fn delta(index: u32, delta: Value, out: &mut SseWriter) {
        out.event(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    /// The finish: `message_delta` with the stop reason (and `usage`, if
    /// any), then `message_stop` unless the recording goes on to an error.
    fn finish(&mut self, reason: &FinishReason, usage: Option<Usage>, out: &mut SseWriter) {
        self.close_synthesized(out);
        self.message_delta(stop_value(reason), usage, out);
        if !self.fails {
            self.done = true;
            out.event(Some("message_stop"), &json!({"type": "message_stop"}));
        }
    }

    fn message_delta(&mut self, stop: Value, usage: Option<Usage>, out: &mut SseWriter) {
        let mut data =
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}});
        if let Some(usage) = usage {
            self.usage_sent = Some(usage);
            data["usage"] = usage_json(&usage);
        }
        out.event(Some("message_delta"), &data);
    }
}

impl PartEncoder for MessagesEncoder {
    fn part(&mut self, parts: &[StreamPart], at: usize, out: &mut SseWriter) -> usize {
        if self.done {
            return 1;
        }
        let part = &parts[at];
        match part {
            StreamPart::ResponseMetadata { id, model } => {
                self.start(id.as_deref(), model.as_deref(), out);
                return 1;
            }
            StreamPart::KeepAlive => {
                out.event(Some("ping"), &json!({"type": "ping"}));
                return 1;
            }
            StreamPart::StreamStart => return 1,
            _ => self.start(None, None, out),
        }
        match part {
            StreamPart::BlockStart { index } => {
                self.close_synthesized(out);
                match parts.get(at + 1) {
                    Some(StreamPart::ToolCallStart { id, name }) => {
                        self.tool_block(id, name, *index, false, out);
                        return 2;
                    }
                    Some(StreamPart::RedactedReasoning { data }) => {
                        self.block_start(
                            *index,
                            json!({"type": "redacted_thinking", "data": data}),
                            out,
                        );
                        self.open = None;
                        return 2;
                    }
                    next => {
                        let (kind, block) = match next {
                            _ if matches!(
                                next_content(&parts[at + 1..]),
                                Some(StreamPart::ReasoningDelta { .. })
                            ) =>
                            {
                                (
                                    Kind::Thinking,
                                    json!({"type": "thinking", "thinking": "", "signature": ""}),
                                )
                            }
                            _ => (Kind::Text, json!({"type": "text", "text": ""})),
                        };
                        self.block_start(*index, block, out);
                        self.open = Some(Open {
                            index: *index,
                            kind,
                            synthesized: false,
                        });
                    }
                }
            }
            StreamPart::BlockStop { index } => {
                Self::block_stop(*index, out);
                if self.open.as_ref().is_some_and(|o| o.index == *index) {
                    self.open = None;
                }
            }
            StreamPart::TextDelta { text } if !text.is_empty() => {
                let index = self.block_for(Kind::Text, out);
                Self::delta(index, json!({"type": "text_delta", "text": text}), out);
            }
            StreamPart::ReasoningDelta { text } if !text.is_empty() => {
                let index = self.block_for(Kind::Thinking, out);
                Self::delta(
                    index,
                    json!({"type": "thinking_delta", "thinking": text}),
                    out,
                );
            }
            StreamPart::RedactedReasoning { data } => {
                self.close_synthesized(out);
                let index = self.next_index;
                self.block_start(
                    index,
                    json!({"type": "redacted_thinking", "data": data}),
                    out,
                );
                Self::block_stop(index, out);
            }
            StreamPart::ToolCallStart { id, name } => {
                self.close_synthesized(out);
                let index = self.next_index;
                self.tool_block(id, name, index, true, out);
            }
            StreamPart::ToolCallDelta { id, arguments } if !arguments.is_empty() => {
                let index = match &self.open {
                    Some(Open {
                        kind: Kind::Tool(open),
                        index,
                        ..
                    }) if open == id => *index,
                    _ => match self.tools.iter().rev().find(|(tool, _)| tool == id) {
                        Some((_, index)) => *index,
                        None => self.block_for(Kind::Tool(id.clone()), out),
                    },
                };
                Self::delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": arguments}),
                    out,
                );
            }
            StreamPart::Usage { usage } => match parts.get(at + 1) {
                // Usage and the finish right after it share one
                // `message_delta`, as Anthropic sends them.
                Some(StreamPart::Finish {
                    reason,
                    usage: finish_usage,
                }) if finish_usage.is_none_or(|f| f == *usage) => {
                    self.finish(reason, Some(*usage), out);
                    return 2;
                }
                _ => self.message_delta(Value::Null, Some(*usage), out),
            },
            StreamPart::Finish { reason, usage } => {
                let usage = usage.filter(|u| self.usage_sent != Some(*u));
                self.finish(reason, usage, out);
            }
            // Empty deltas carry nothing; Messages has no refusal delta and
            // names the speaker once, in `message_start`.
            _ => {}
        }
        1
    }

    fn end(&mut self, error: Option<&StreamError>, out: &mut SseWriter) -> StreamEnd {
        if self.done {
            return StreamEnd::Close;
        }
        match error {
            None => {
                self.start(None, None, out);
                self.close_synthesized(out);
                self.done = true;
                out.event(Some("message_stop"), &json!({"type": "message_stop"}));
                StreamEnd::Close
            }
            Some(StreamError::Event { kind, message }) => {
                out.event(
                    Some("error"),
                    &json!({"type": "error", "error": {"type": kind, "message": message}}),
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

/// A [`ModelResponse`] as a non-streamed Messages `message` body: thinking,
/// text and tool-use blocks (a refusal has no block and is not sent).
pub(crate) fn messages_response_body(response: &ModelResponse) -> Value {
    let mut content = Vec::new();
    if !response.reasoning.is_empty() {
        content.push(json!({"type": "thinking", "thinking": response.reasoning, "signature": ""}));
    }
    if !response.text.is_empty() {
        content.push(json!({"type": "text", "text": response.text}));
    }
    for call in &response.tool_calls {
        content.push(
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}),
        );
    }
    let stop = response
        .finish_reason
        .as_ref()
        .map_or(Value::Null, stop_value);
    let mut body = json!({
        "id": "", "type": "message", "role": "assistant",
        "model": response.model.model, "content": content,
        "stop_reason": stop, "stop_sequence": null,
    });
    if let Some(usage) = &response.usage {
        body["usage"] = usage_json(usage);
    }
    body
}

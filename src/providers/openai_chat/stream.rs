use serde_json::Value;

use super::mapping::{chat_finish, chat_usage, reasoning_text};
use crate::model::{ModelError, Role, StreamPart, Usage};
use crate::providers::decoder::{ProtocolDecoder, truncated};
use crate::providers::shared::tool_call_ids::ToolCallIds;
use crate::providers::shared::wire::{
    error_at, event_json, non_empty, object_at, provider_error, text_of,
};
use crate::providers::sse::SseEvent;

/// Decodes a Chat Completions stream (`data: {chunk}` … `data: [DONE]`),
/// from OpenAI, Azure or any OpenAI-compatible server.
///
/// Per chunk, for choice 0: the first id/model becomes
/// [`ResponseMetadata`](StreamPart::ResponseMetadata), the first role a
/// [`RoleDelta`](StreamPart::RoleDelta); non-empty `reasoning_content` /
/// `reasoning`, `content` and `refusal` become deltas; each new tool call a
/// [`ToolCallStart`](StreamPart::ToolCallStart) and its argument pieces
/// [`ToolCallDelta`](StreamPart::ToolCallDelta)s; a `usage` object a
/// [`Usage`](StreamPart::Usage) part. `finish_reason` is held until
/// `[DONE]`, which yields one [`Finish`](StreamPart::Finish) carrying the last
/// usage. An `{"error": …}` chunk (or an `event: error`) ends the stream
/// with [`ModelError::Provider`]; what came before it is kept: usage the
/// error chunk carries becomes a [`Usage`](StreamPart::Usage) part, and a
/// finish reason already received a [`Finish`](StreamPart::Finish) ahead of
/// the error, as it does when the body ends without `[DONE]`.
#[derive(Debug, Clone)]
pub struct ChatStreamDecoder {
    provider: String,
    metadata_seen: bool,
    role_seen: bool,
    /// Tool calls by their `index` in the chunks, with the id given to them.
    calls: ToolCallIds,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
    /// An error ended the stream: later events add nothing.
    failed: bool,
}

impl ChatStreamDecoder {
    /// A decoder for a stream from `provider` (named in errors).
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            metadata_seen: false,
            role_seen: false,
            calls: ToolCallIds::default(),
            finish_reason: None,
            usage: None,
            done: false,
            failed: false,
        }
    }

    /// Usage a chunk carries, as a [`StreamPart::Usage`]; it is also the
    /// usage the [`Finish`](StreamPart::Finish) will carry.
    fn usage(&mut self, chunk: &Value, out: &mut Vec<StreamPart>) {
        if let Some(usage) = object_at(chunk, "usage") {
            let usage = chat_usage(usage);
            self.usage = Some(usage);
            out.push(StreamPart::Usage { usage });
        }
    }

    /// The stream ends without `[DONE]` (an error, or a body cut short): a
    /// finish reason already received goes out as the
    /// [`Finish`](StreamPart::Finish), with the last usage. Without one
    /// there is no finish to report; usage already went out as its parts.
    fn release_held(&mut self, out: &mut Vec<StreamPart>) {
        if let Some(reason) = self.finish_reason.take() {
            out.push(StreamPart::Finish {
                reason: chat_finish(&reason),
                usage: self.usage,
            });
        }
    }

    /// [`ProtocolDecoder::decode`], before held parts are released on an error.
    fn decode_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<StreamPart>,
    ) -> Result<(), ModelError> {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            let reason = chat_finish(self.finish_reason.as_deref().unwrap_or_default());
            out.push(StreamPart::Finish {
                reason,
                usage: self.usage,
            });
            return Ok(());
        }
        let chunk = event_json(&self.provider, event)?;
        let error = if event.kind() == "error" {
            Some(
                chunk
                    .get("error")
                    .filter(|e| !e.is_null())
                    .unwrap_or(&chunk),
            )
        } else {
            error_at(&chunk)
        };
        if let Some(error) = error {
            let error = provider_error(&self.provider, error);
            // An error chunk may still carry the end of the answer: content,
            // a finish reason (OpenRouter sends `finish_reason: "error"`
            // beside a mid-stream error) and the call's usage.
            self.chunk(&chunk, out);
            return Err(error);
        }
        self.chunk(&chunk, out);
        Ok(())
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<StreamPart>) {
        if !self.metadata_seen {
            let id = non_empty(chunk, "id");
            let model = non_empty(chunk, "model");
            if id.is_some() || model.is_some() {
                self.metadata_seen = true;
                out.push(StreamPart::ResponseMetadata {
                    id: id.map(str::to_owned),
                    model: model.map(str::to_owned),
                });
            }
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        // Only the first choice: a request never asks for more than one.
        let choice = choices.and_then(|cs| {
            cs.iter()
                .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        });
        if let Some(choice) = choice {
            if let Some(delta) = choice.get("delta").filter(|d| d.is_object()) {
                self.delta(delta, out);
            }
            if let Some(reason) = non_empty(choice, "finish_reason") {
                self.finish_reason = Some(reason.to_owned());
            }
        }
        self.usage(chunk, out);
    }

    fn delta(&mut self, delta: &Value, out: &mut Vec<StreamPart>) {
        if !self.role_seen && non_empty(delta, "role").is_some() {
            self.role_seen = true;
            out.push(StreamPart::RoleDelta {
                role: Role::Assistant,
            });
        }
        if let Some(text) = reasoning_text(delta) {
            out.push(StreamPart::ReasoningDelta { text });
        }
        if let Some(text) = delta.get("content").map(text_of).filter(|t| !t.is_empty()) {
            out.push(StreamPart::TextDelta { text });
        }
        if let Some(text) = non_empty(delta, "refusal") {
            out.push(StreamPart::RefusalDelta {
                text: text.to_owned(),
            });
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                self.tool_call(position as u64, call, out);
            }
        }
    }

    fn tool_call(&mut self, position: u64, call: &Value, out: &mut Vec<StreamPart>) {
        let index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position);
        let function = call.get("function").unwrap_or(&Value::Null);
        let given_id = non_empty(call, "id");
        // A new id at a known index is a new call (some servers reuse index 0).
        let starts = match (self.calls.at(index), given_id) {
            (None, _) => true,
            (Some(known), Some(id)) => known != id,
            (Some(_), None) => false,
        };
        if starts {
            let id = given_id
                .map(str::to_owned)
                .unwrap_or_else(|| format!("call_{index}"));
            let name = non_empty(function, "name").unwrap_or_default().to_owned();
            self.calls.open(index, id.clone());
            out.push(StreamPart::ToolCallStart { id, name });
        }
        if let Some(arguments) = non_empty(function, "arguments") {
            out.push(self.calls.delta(index, arguments));
        }
    }
}

impl ProtocolDecoder for ChatStreamDecoder {
    fn provider(&self) -> &str {
        &self.provider
    }

    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        if self.done || self.failed {
            return Ok(());
        }
        let result = self.decode_event(event, out);
        if result.is_err() {
            self.failed = true;
            self.release_held(out);
        }
        result
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn end_of_body(&mut self, out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        if self.done {
            return Ok(());
        }
        self.release_held(out);
        Err(truncated(self))
    }

    fn end_marker_description(&self) -> &'static str {
        "`data: [DONE]`"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FinishKind;
    use crate::providers::decoder::{decode_events, decode_events_partial};

    fn decode(datas: &[&str]) -> Result<Vec<StreamPart>, ModelError> {
        let events = datas.iter().map(|data| SseEvent {
            data: (*data).to_owned(),
            ..SseEvent::default()
        });
        decode_events(ChatStreamDecoder::new("openai"), events)
    }

    #[test]
    fn finish_is_held_until_done_and_carries_the_last_usage() {
        let parts = decode(&[
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
            r#"{"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":3}}}"#,
            "[DONE]",
        ])
        .unwrap();
        let usage = Usage {
            input_tokens: 5,
            output_tokens: 7,
            cached_input_tokens: Some(2),
            reasoning_tokens: Some(3),
            ..Usage::default()
        };
        assert_eq!(
            parts,
            vec![
                StreamPart::ResponseMetadata {
                    id: Some("c1".into()),
                    model: Some("m".into())
                },
                StreamPart::RoleDelta {
                    role: Role::Assistant
                },
                StreamPart::text("Hi"),
                StreamPart::Usage { usage },
                StreamPart::Finish {
                    reason: crate::model::FinishReason::new(FinishKind::Length, "length"),
                    usage: Some(usage)
                },
            ]
        );
    }

    #[test]
    fn reasoning_sent_under_both_names_counts_once() {
        let parts = decode(&[
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"Hmm","reasoning":"Hmm"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":" ok"}}]}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(
            parts[..2],
            [StreamPart::reasoning("Hmm"), StreamPart::reasoning(" ok")]
        );
    }

    #[test]
    fn parallel_tool_calls_keep_their_ids_by_index() {
        let parts = decode(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}},{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]}}]}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(
            parts[..4],
            [
                StreamPart::ToolCallStart {
                    id: "a".into(),
                    name: "f".into()
                },
                StreamPart::ToolCallStart {
                    id: "b".into(),
                    name: "g".into()
                },
                StreamPart::ToolCallDelta {
                    id: "b".into(),
                    arguments: "{}".into()
                },
                StreamPart::ToolCallDelta {
                    id: "a".into(),
                    arguments: "{\"x\":1}".into()
                },
            ]
        );
    }

    #[test]
    fn an_error_chunk_ends_the_stream_with_the_providers_error() {
        let err = decode(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"error":{"message":"The server had an error","type":"server_error","code":null}}"#,
        ])
        .unwrap_err();
        assert_eq!(
            err,
            ModelError::Provider {
                provider: "openai".into(),
                kind: "server_error".into(),
                message: "The server had an error".into()
            }
        );
    }

    #[test]
    fn an_error_after_the_finish_reason_keeps_it_and_the_error_chunks_usage() {
        let events = [
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#,
            r#"{"error":{"message":"late","type":"server_error"},"usage":{"prompt_tokens":4,"completion_tokens":1}}"#,
            r#"{"choices":[{"index":0,"delta":{"content":" more"}}]}"#,
            "[DONE]",
        ]
        .map(|data| SseEvent {
            data: data.to_owned(),
            ..SseEvent::default()
        });
        let (parts, end) = decode_events_partial(ChatStreamDecoder::new("openai"), events);
        assert!(matches!(end, Err(ModelError::Provider { .. })), "{end:?}");
        let usage = Usage::new(4, 1);
        assert_eq!(
            parts,
            vec![
                StreamPart::text("Hi"),
                StreamPart::Usage { usage },
                StreamPart::Finish {
                    reason: crate::model::FinishReason::stop(),
                    usage: Some(usage)
                },
            ],
            "usage, then the held finish; nothing after the error"
        );
    }

    #[test]
    fn an_error_chunk_keeps_the_finish_reason_and_content_it_carries() {
        let events = [
            r#"{"id":"gen-1","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"error"}],"error":{"code":502,"message":"Provider disconnected"}}"#,
        ]
        .map(|data| SseEvent {
            data: data.to_owned(),
            ..SseEvent::default()
        });
        let (parts, end) = decode_events_partial(ChatStreamDecoder::new("openrouter"), events);
        assert!(
            matches!(&end, Err(ModelError::Provider { kind, .. }) if kind == "502"),
            "{end:?}"
        );
        assert_eq!(
            parts[1..],
            [
                StreamPart::text("Hi"),
                StreamPart::Finish {
                    reason: chat_finish("error"),
                    usage: None
                },
            ]
        );
    }

    #[test]
    fn a_body_cut_after_finish_and_usage_keeps_them_and_is_truncated() {
        let events = [
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":1}}"#,
        ]
        .map(|data| SseEvent {
            data: data.to_owned(),
            ..SseEvent::default()
        });
        let (parts, end) = decode_events_partial(ChatStreamDecoder::new("openai"), events);
        assert!(matches!(end, Err(ModelError::Truncated { .. })), "{end:?}");
        assert_eq!(
            parts.last(),
            Some(&StreamPart::Finish {
                reason: crate::model::FinishReason::tool_calls(),
                usage: Some(Usage::new(4, 1))
            })
        );
    }

    #[test]
    fn a_body_without_done_is_truncated() {
        let err = decode(&[r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#]).unwrap_err();
        assert!(matches!(err, ModelError::Truncated { .. }), "{err:?}");
    }

    #[test]
    fn malformed_json_is_a_decode_error_naming_the_data() {
        let err = decode(&["{not json"]).unwrap_err();
        assert!(
            matches!(&err, ModelError::Decode { message, .. } if message.contains("{not json")),
            "{err:?}"
        );
    }
}

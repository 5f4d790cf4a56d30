use serde_json::Value;

use super::finish::chat_finish;
use super::reasoning::reasoning_text;
use super::usage::chat_usage;
use crate::model::{ModelError, Role, StreamPart, Usage};
use crate::providers::decoder::ProtocolDecoder;
use crate::providers::sse::SseEvent;
use crate::providers::tool_call_ids::ToolCallIds;
use crate::providers::wire::{error_at, event_json, non_empty, object_at, provider_error, text_of};

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
/// usage. An `{"error": …}` chunk ends the stream with
/// [`ModelError::Provider`].
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
        }
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        if let Some(error) = error_at(chunk) {
            return Err(provider_error(&self.provider, error));
        }
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
        if let Some(usage) = object_at(chunk, "usage") {
            let usage = chat_usage(usage);
            self.usage = Some(usage);
            out.push(StreamPart::Usage { usage });
        }
        Ok(())
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
        if self.done {
            return Ok(());
        }
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
        if event.kind() == "error" {
            return Err(provider_error(
                &self.provider,
                chunk.get("error").unwrap_or(&chunk),
            ));
        }
        self.chunk(&chunk, out)
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn end_marker_description(&self) -> &'static str {
        "`data: [DONE]`"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FinishKind;
    use crate::providers::decoder::decode_events;

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

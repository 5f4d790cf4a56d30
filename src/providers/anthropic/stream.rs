use serde_json::Value;

use super::block::block_parts;
use super::mapping::{AnthropicUsage, anthropic_finish};
use crate::model::{ModelError, Role, StreamPart};
use crate::providers::decoder::{ProtocolDecoder, truncated};
use crate::providers::shared::tool_call_ids::ToolCallIds;
use crate::providers::shared::wire::{
    non_empty, object_at, provider_error, response_metadata, str_at, typed_event,
};
use crate::providers::sse::SseEvent;

/// Decodes an Anthropic Messages stream (`event:` + `data:` pairs, ending
/// with `message_stop`).
///
/// `message_start` becomes [`ResponseMetadata`](StreamPart::ResponseMetadata)
/// and a [`RoleDelta`](StreamPart::RoleDelta); `ping` a
/// [`KeepAlive`](StreamPart::KeepAlive); each content block's start and stop
/// a [`BlockStart`](StreamPart::BlockStart)/[`BlockStop`](StreamPart::BlockStop),
/// a `tool_use`/`server_tool_use` block's start also a
/// [`ToolCallStart`](StreamPart::ToolCallStart) and a `redacted_thinking`
/// block a [`RedactedReasoning`](StreamPart::RedactedReasoning); `text_delta`,
/// `thinking_delta` and `input_json_delta` become text, reasoning and tool
/// argument deltas; `message_delta` a [`Usage`](StreamPart::Usage); and
/// `message_stop` the [`Finish`](StreamPart::Finish). An `error` event
/// (`overloaded_error`, ...) ends the stream with [`ModelError::Provider`].
/// A stream that ends without `message_stop` (an error, or a body cut
/// short) keeps what came before: a `stop_reason` already received goes out
/// as the [`Finish`](StreamPart::Finish) ahead of the error, with the usage
/// so far; without one, usage `message_start` reported goes out as a
/// [`Usage`](StreamPart::Usage) part.
#[derive(Debug, Clone)]
pub struct MessagesStreamDecoder {
    provider: String,
    /// Tool-use blocks by block index, with their ids.
    tool_calls: ToolCallIds,
    usage: AnthropicUsage,
    usage_seen: bool,
    /// Whether the usage as it stands went out as a part.
    usage_sent: bool,
    stop_reason: Option<String>,
    done: bool,
    /// An error ended the stream: later events add nothing.
    failed: bool,
}

impl MessagesStreamDecoder {
    /// A decoder for a stream from `provider` (named in errors).
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            tool_calls: ToolCallIds::default(),
            usage: AnthropicUsage::default(),
            usage_seen: false,
            usage_sent: false,
            stop_reason: None,
            done: false,
            failed: false,
        }
    }

    /// The stream ends without `message_stop`: what it held back goes out.
    fn release_held(&mut self, out: &mut Vec<StreamPart>) {
        if let Some(reason) = self.stop_reason.take() {
            out.push(StreamPart::Finish {
                reason: anthropic_finish(&reason),
                usage: self.usage_seen.then(|| self.usage.to_usage()),
            });
        } else if self.usage_seen && !self.usage_sent {
            self.usage_sent = true;
            out.push(StreamPart::Usage {
                usage: self.usage.to_usage(),
            });
        }
    }

    fn block_start(&mut self, data: &Value, out: &mut Vec<StreamPart>) {
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        out.push(StreamPart::BlockStart {
            index: u32::try_from(index).unwrap_or(u32::MAX),
        });
        let block = data.get("content_block").unwrap_or(&Value::Null);
        if let Some(id) = block_parts(block, out) {
            self.tool_calls.open(index, id.clone());
            // Input normally streams as `input_json_delta`s after an empty `{}`.
            if let Some(input) = block
                .get("input")
                .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
            {
                out.push(StreamPart::ToolCallDelta {
                    id,
                    arguments: input.to_string(),
                });
            }
        }
    }

    fn block_delta(&mut self, data: &Value, out: &mut Vec<StreamPart>) {
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        let delta = data.get("delta").unwrap_or(&Value::Null);
        match str_at(delta, "type") {
            Some("text_delta") => {
                if let Some(text) = non_empty(delta, "text") {
                    out.push(StreamPart::text(text));
                }
            }
            Some("thinking_delta") => {
                if let Some(text) = non_empty(delta, "thinking") {
                    out.push(StreamPart::reasoning(text));
                }
            }
            Some("input_json_delta") => {
                if let Some(json) = non_empty(delta, "partial_json") {
                    out.push(self.tool_calls.delta(index, json));
                }
            }
            // signature_delta, citations_delta: nothing the parts carry.
            _ => {}
        }
    }
}

impl ProtocolDecoder for MessagesStreamDecoder {
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
        "`message_stop`"
    }
}

impl MessagesStreamDecoder {
    /// [`ProtocolDecoder::decode`], before held parts are released on an error.
    fn decode_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<StreamPart>,
    ) -> Result<(), ModelError> {
        let (kind, data) = typed_event(&self.provider, event)?;
        match kind.as_str() {
            "message_start" => {
                let message = data.get("message").unwrap_or(&Value::Null);
                out.push(response_metadata(message));
                out.push(StreamPart::RoleDelta {
                    role: Role::Assistant,
                });
                if let Some(usage) = object_at(message, "usage") {
                    self.usage.update(usage);
                    self.usage_seen = true;
                    self.usage_sent = false;
                }
            }
            "content_block_start" => self.block_start(&data, out),
            "content_block_delta" => self.block_delta(&data, out),
            "content_block_stop" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                out.push(StreamPart::BlockStop {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                });
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(usage) = object_at(&data, "usage") {
                    self.usage.update(usage);
                    self.usage_seen = true;
                    self.usage_sent = true;
                    out.push(StreamPart::Usage {
                        usage: self.usage.to_usage(),
                    });
                }
            }
            "message_stop" => {
                self.done = true;
                out.push(StreamPart::Finish {
                    reason: anthropic_finish(self.stop_reason.as_deref().unwrap_or_default()),
                    usage: self.usage_seen.then(|| self.usage.to_usage()),
                });
            }
            "ping" => out.push(StreamPart::KeepAlive),
            "error" => {
                let error = data.get("error").unwrap_or(&data);
                return Err(provider_error(&self.provider, error));
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FinishKind;
    use crate::providers::decoder::{decode_events, decode_events_partial};

    fn decode(events: &[(&str, &str)]) -> Result<Vec<StreamPart>, ModelError> {
        let events = events.iter().map(|(name, data)| SseEvent {
            event: Some((*name).to_owned()),
            data: (*data).to_owned(),
            ..SseEvent::default()
        });
        decode_events(MessagesStreamDecoder::new("anthropic"), events)
    }

    #[test]
    fn thinking_and_redacted_thinking_are_reasoning() {
        let parts = decode(&[
            ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"opaque"}}"#),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3}}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ])
        .unwrap();
        assert_eq!(parts[1], StreamPart::reasoning("Hmm."));
        assert!(parts.contains(&StreamPart::RedactedReasoning {
            data: "opaque".into()
        }));
        let Some(StreamPart::Finish { reason, usage }) = parts.last() else {
            panic!("{parts:?}")
        };
        assert_eq!(reason.kind, FinishKind::Length);
        assert_eq!(usage.unwrap().output_tokens, 3);
    }

    #[test]
    fn an_overloaded_error_event_ends_the_stream_with_it() {
        let err = decode(&[
            ("ping", r#"{"type":"ping"}"#),
            (
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            ModelError::Provider {
                provider: "anthropic".into(),
                kind: "overloaded_error".into(),
                message: "Overloaded".into()
            }
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn an_error_keeps_the_usage_message_start_reported_or_the_held_stop_reason() {
        let event = |name: &str, data: &str| SseEvent {
            event: Some(name.to_owned()),
            data: data.to_owned(),
            ..SseEvent::default()
        };
        let start = event(
            "message_start",
            r#"{"type":"message_start","message":{"usage":{"input_tokens":9,"cache_read_input_tokens":1}}}"#,
        );
        let error = event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        let (parts, end) = decode_events_partial(
            MessagesStreamDecoder::new("anthropic"),
            [start.clone(), error.clone()],
        );
        assert!(matches!(end, Err(ModelError::Provider { .. })), "{end:?}");
        let Some(StreamPart::Usage { usage }) = parts.last() else {
            panic!("{parts:?}")
        };
        assert_eq!(
            (usage.input_tokens, usage.cached_input_tokens),
            (10, Some(1))
        );

        let delta = event(
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":3}}"#,
        );
        let (parts, end) = decode_events_partial(
            MessagesStreamDecoder::new("anthropic"),
            [start, delta, error],
        );
        assert!(end.is_err());
        let Some(StreamPart::Finish { reason, usage }) = parts.last() else {
            panic!("{parts:?}")
        };
        assert_eq!(reason.raw, "tool_use");
        assert_eq!(
            usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((10, 3))
        );
    }

    #[test]
    fn a_body_without_message_stop_is_truncated() {
        let err = decode(&[("ping", r#"{"type":"ping"}"#)]).unwrap_err();
        assert!(
            matches!(&err, ModelError::Truncated { message, .. } if message.contains("message_stop")),
            "{err:?}"
        );
    }
}

use serde_json::Value;

use super::finish::anthropic_finish;
use super::usage::AnthropicUsage;
use crate::model::{ModelError, Role, StreamPart};
use crate::providers::decoder::ProtocolDecoder;
use crate::providers::sse::SseEvent;
use crate::providers::wire::{event_json, non_empty, provider_error, str_at};

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
#[derive(Debug, Clone)]
pub struct MessagesStreamDecoder {
    provider: String,
    /// Tool-use blocks by block index, with their ids.
    blocks: Vec<(u64, String)>,
    usage: AnthropicUsage,
    usage_seen: bool,
    stop_reason: Option<String>,
    done: bool,
}

impl MessagesStreamDecoder {
    /// A decoder for a stream from `provider` (named in errors).
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            blocks: Vec::new(),
            usage: AnthropicUsage::default(),
            usage_seen: false,
            stop_reason: None,
            done: false,
        }
    }

    fn block_start(&mut self, data: &Value, out: &mut Vec<StreamPart>) {
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        out.push(StreamPart::BlockStart {
            index: u32::try_from(index).unwrap_or(u32::MAX),
        });
        let block = data.get("content_block").unwrap_or(&Value::Null);
        match str_at(block, "type") {
            Some("text") => {
                if let Some(text) = non_empty(block, "text") {
                    out.push(StreamPart::text(text));
                }
            }
            Some("thinking") => {
                if let Some(text) = non_empty(block, "thinking") {
                    out.push(StreamPart::reasoning(text));
                }
            }
            Some("redacted_thinking") => out.push(StreamPart::RedactedReasoning {
                data: str_at(block, "data").unwrap_or_default().to_owned(),
            }),
            Some("tool_use" | "server_tool_use" | "mcp_tool_use") => {
                let id = str_at(block, "id").unwrap_or_default().to_owned();
                self.blocks.push((index, id.clone()));
                out.push(StreamPart::ToolCallStart {
                    id: id.clone(),
                    name: str_at(block, "name").unwrap_or_default().to_owned(),
                });
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
            _ => {}
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
                    let id = self
                        .blocks
                        .iter()
                        .rev()
                        .find(|(i, _)| *i == index)
                        .map(|(_, id)| id.clone())
                        .unwrap_or_default();
                    out.push(StreamPart::ToolCallDelta {
                        id,
                        arguments: json.to_owned(),
                    });
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
        if self.done {
            return Ok(());
        }
        let data = event_json(&self.provider, event)?;
        let kind = str_at(&data, "type").unwrap_or(event.kind()).to_owned();
        match kind.as_str() {
            "message_start" => {
                let message = data.get("message").unwrap_or(&Value::Null);
                out.push(StreamPart::ResponseMetadata {
                    id: non_empty(message, "id").map(str::to_owned),
                    model: non_empty(message, "model").map(str::to_owned),
                });
                out.push(StreamPart::RoleDelta {
                    role: Role::Assistant,
                });
                if let Some(usage) = message.get("usage").filter(|u| u.is_object()) {
                    self.usage.update(usage);
                    self.usage_seen = true;
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
                if let Some(usage) = data.get("usage").filter(|u| u.is_object()) {
                    self.usage.update(usage);
                    self.usage_seen = true;
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

    fn is_done(&self) -> bool {
        self.done
    }

    fn end_marker_description(&self) -> &'static str {
        "`message_stop`"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FinishKind;

    fn decode(events: &[(&str, &str)]) -> Result<Vec<StreamPart>, ModelError> {
        let mut d = MessagesStreamDecoder::new("anthropic");
        let mut out = Vec::new();
        for (name, data) in events {
            let event = SseEvent {
                event: Some((*name).to_owned()),
                data: (*data).to_owned(),
                ..SseEvent::default()
            };
            d.decode(&event, &mut out)?;
        }
        d.end_of_body()?;
        Ok(out)
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
    fn a_body_without_message_stop_is_truncated() {
        let err = decode(&[("ping", r#"{"type":"ping"}"#)]).unwrap_err();
        assert!(
            matches!(&err, ModelError::Truncated { message, .. } if message.contains("message_stop")),
            "{err:?}"
        );
    }
}

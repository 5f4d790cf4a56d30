use serde_json::Value;

use super::mapping::{responses_finish, responses_usage};
use super::tool_item::{call_id, tool_input_key};
use crate::model::{ModelError, StreamPart};
use crate::providers::decoder::ProtocolDecoder;
use crate::providers::shared::wire::{
    non_empty, object_at, provider_error, response_metadata, str_at, typed_event,
};
use crate::providers::sse::SseEvent;

/// Decodes an OpenAI Responses API stream (named events, no `[DONE]`; it
/// ends with `response.completed` or `response.incomplete`).
///
/// `response.created` becomes [`ResponseMetadata`](StreamPart::ResponseMetadata);
/// each output item's `added`/`done` a [`BlockStart`](StreamPart::BlockStart)/
/// [`BlockStop`](StreamPart::BlockStop) at its `output_index`, and a
/// `function_call`/`custom_tool_call` item's `added` also a
/// [`ToolCallStart`](StreamPart::ToolCallStart) (id = its `call_id`);
/// `output_text`, `refusal`, `reasoning_summary_text` and `reasoning_text`
/// deltas become text, refusal and reasoning deltas; argument/input deltas
/// [`ToolCallDelta`](StreamPart::ToolCallDelta)s. The final event yields
/// [`Usage`](StreamPart::Usage) and [`Finish`](StreamPart::Finish).
/// `error` and `response.failed` end the stream with [`ModelError::Provider`];
/// `response.failed` first yields the usage and the `failed` finish its
/// response reports, so the partial output keeps them.
#[derive(Debug, Clone)]
pub struct ResponsesStreamDecoder {
    provider: String,
    /// Tool-call items by item id: (call id, whether any arguments were seen).
    calls: Vec<(String, String, bool)>,
    done: bool,
    /// An error ended the stream: later events add nothing.
    failed: bool,
}

impl ResponsesStreamDecoder {
    /// A decoder for a stream from `provider` (named in errors).
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            calls: Vec::new(),
            done: false,
            failed: false,
        }
    }

    fn call_mut(&mut self, item_id: &str) -> Option<&mut (String, String, bool)> {
        self.calls
            .iter_mut()
            .rev()
            .find(|(item, _, _)| item == item_id)
    }

    fn item_added(&mut self, data: &Value, out: &mut Vec<StreamPart>) {
        let index = output_index(data);
        out.push(StreamPart::BlockStart { index });
        let item = data.get("item").unwrap_or(&Value::Null);
        if let Some(input_key) = tool_input_key(item) {
            let item_id = str_at(item, "id").unwrap_or_default().to_owned();
            let call_id = call_id(item);
            out.push(StreamPart::ToolCallStart {
                id: call_id.clone(),
                name: str_at(item, "name").unwrap_or_default().to_owned(),
            });
            let arguments = non_empty(item, input_key);
            if let Some(arguments) = arguments {
                out.push(StreamPart::ToolCallDelta {
                    id: call_id.clone(),
                    arguments: arguments.to_owned(),
                });
            }
            self.calls.push((item_id, call_id, arguments.is_some()));
        }
    }

    fn item_done(&mut self, data: &Value, out: &mut Vec<StreamPart>) {
        let item = data.get("item").unwrap_or(&Value::Null);
        if let Some(input_key) = tool_input_key(item) {
            // A server that sends a call's arguments only in its `done` event.
            let item_id = str_at(item, "id").unwrap_or_default();
            let known = self
                .call_mut(item_id)
                .map(|(_, id, seen)| (id.clone(), *seen));
            let (call_id, seen) = match known {
                Some(known) => known,
                None => {
                    let call_id = call_id(item);
                    out.push(StreamPart::ToolCallStart {
                        id: call_id.clone(),
                        name: str_at(item, "name").unwrap_or_default().to_owned(),
                    });
                    self.calls
                        .push((item_id.to_owned(), call_id.clone(), false));
                    (call_id, false)
                }
            };
            if !seen {
                if let Some(arguments) = non_empty(item, input_key) {
                    out.push(StreamPart::ToolCallDelta {
                        id: call_id,
                        arguments: arguments.to_owned(),
                    });
                }
            }
        }
        out.push(StreamPart::BlockStop {
            index: output_index(data),
        });
    }

    fn arguments_delta(&mut self, data: &Value, out: &mut Vec<StreamPart>) {
        let Some(delta) = non_empty(data, "delta") else {
            return;
        };
        let item_id = str_at(data, "item_id").unwrap_or_default();
        let id = match self.call_mut(item_id) {
            Some((_, call_id, seen)) => {
                *seen = true;
                call_id.clone()
            }
            None => item_id.to_owned(),
        };
        out.push(StreamPart::ToolCallDelta {
            id,
            arguments: delta.to_owned(),
        });
    }

    fn end(&mut self, data: &Value, status: &str, out: &mut Vec<StreamPart>) {
        self.done = true;
        self.report_end(data, status, out);
    }

    /// The usage and finish of a final event's `response`.
    fn report_end(&self, data: &Value, status: &str, out: &mut Vec<StreamPart>) {
        let response = data.get("response").unwrap_or(&Value::Null);
        let usage = object_at(response, "usage").map(responses_usage);
        if let Some(usage) = usage {
            out.push(StreamPart::Usage { usage });
        }
        out.push(StreamPart::Finish {
            reason: responses_finish(response, status, !self.calls.is_empty()),
            usage,
        });
    }
}

fn output_index(data: &Value) -> u32 {
    data.get("output_index")
        .and_then(Value::as_u64)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(0)
}

fn text_delta(data: &Value) -> Option<String> {
    non_empty(data, "delta").map(str::to_owned)
}

impl ProtocolDecoder for ResponsesStreamDecoder {
    fn provider(&self) -> &str {
        &self.provider
    }

    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamPart>) -> Result<(), ModelError> {
        if self.done || self.failed {
            return Ok(());
        }
        let result = self.decode_event(event, out);
        self.failed = result.is_err();
        result
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn end_marker_description(&self) -> &'static str {
        "`response.completed`"
    }
}

impl ResponsesStreamDecoder {
    /// [`ProtocolDecoder::decode`] of an event after neither the end nor an error.
    fn decode_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<StreamPart>,
    ) -> Result<(), ModelError> {
        let (kind, data) = typed_event(&self.provider, event)?;
        match kind.as_str() {
            "response.created" => {
                let response = data.get("response").unwrap_or(&Value::Null);
                out.push(response_metadata(response));
            }
            "response.output_item.added" => self.item_added(&data, out),
            "response.output_item.done" => self.item_done(&data, out),
            "response.output_text.delta" => {
                if let Some(text) = text_delta(&data) {
                    out.push(StreamPart::TextDelta { text });
                }
            }
            "response.refusal.delta" => {
                if let Some(text) = text_delta(&data) {
                    out.push(StreamPart::RefusalDelta { text });
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Some(text) = text_delta(&data) {
                    out.push(StreamPart::ReasoningDelta { text });
                }
            }
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                self.arguments_delta(&data, out)
            }
            "response.completed" => self.end(&data, "completed", out),
            "response.incomplete" => self.end(&data, "incomplete", out),
            "response.failed" => {
                self.report_end(&data, "failed", out);
                let error = data.pointer("/response/error").unwrap_or(&Value::Null);
                let error = if error.is_null() { &data } else { error };
                return Err(provider_error(&self.provider, error));
            }
            "error" => {
                let error = data.get("error").filter(|e| e.is_object()).unwrap_or(&data);
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
    use crate::model::{FinishKind, Usage};
    use crate::providers::decoder::decode_events;
    use serde_json::json;

    fn decode(events: &[Value]) -> Result<Vec<StreamPart>, ModelError> {
        let events = events.iter().map(|data| SseEvent {
            event: data["type"].as_str().map(str::to_owned),
            data: data.to_string(),
            ..SseEvent::default()
        });
        decode_events(ResponsesStreamDecoder::new("openai"), events)
    }

    #[test]
    fn arguments_sent_only_in_done_still_reach_the_call() {
        let parts = decode(&[
            json!({"type": "response.output_item.done", "output_index": 0,
                   "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"}}),
            json!({"type": "response.completed", "response": {"status": "completed",
                   "usage": {"input_tokens": 3, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 1}}}}),
        ])
        .unwrap();
        assert_eq!(
            parts[..2],
            [
                StreamPart::ToolCallStart {
                    id: "call_1".into(),
                    name: "f".into()
                },
                StreamPart::ToolCallDelta {
                    id: "call_1".into(),
                    arguments: "{\"a\":1}".into()
                },
            ]
        );
        let Some(StreamPart::Finish { reason, usage }) = parts.last() else {
            panic!("{parts:?}")
        };
        assert_eq!(reason.kind, FinishKind::ToolCalls);
        assert_eq!(
            *usage,
            Some(Usage {
                cached_input_tokens: Some(1),
                ..Usage::new(3, 4)
            })
        );
    }

    #[test]
    fn reasoning_summaries_and_refusals_are_content() {
        let parts = decode(&[
            json!({"type": "response.reasoning_summary_text.delta", "delta": "think"}),
            json!({"type": "response.refusal.delta", "delta": "no"}),
            json!({"type": "response.incomplete", "response": {"status": "incomplete",
                   "incomplete_details": {"reason": "max_output_tokens"}}}),
        ])
        .unwrap();
        assert_eq!(parts[0], StreamPart::reasoning("think"));
        assert_eq!(parts[1], StreamPart::RefusalDelta { text: "no".into() });
        assert!(
            matches!(&parts[2], StreamPart::Finish { reason, .. } if reason.kind == FinishKind::Length)
        );
    }

    #[test]
    fn error_and_failed_events_end_the_stream_with_the_providers_error() {
        let err = decode(&[json!({"type": "error", "code": "server_error", "message": "boom"})])
            .unwrap_err();
        assert_eq!(
            err,
            ModelError::Provider {
                provider: "openai".into(),
                kind: "server_error".into(),
                message: "boom".into()
            }
        );
        let err = decode(&[
            json!({"type": "response.failed", "response": {"status": "failed",
            "error": {"code": "rate_limit_exceeded", "message": "slow down"}}}),
        ])
        .unwrap_err();
        assert!(matches!(err, ModelError::Provider { kind, .. } if kind == "rate_limit_exceeded"));
    }

    #[test]
    fn a_failed_response_reports_its_usage_and_finish_before_the_error() {
        let events = [
            json!({"type": "response.failed", "response": {"status": "failed",
            "error": {"code": "server_error", "message": "boom"},
            "usage": {"input_tokens": 3, "output_tokens": 2}}}),
        ]
        .map(|data| SseEvent {
            event: data["type"].as_str().map(str::to_owned),
            data: data.to_string(),
            ..SseEvent::default()
        });
        let (parts, end) = crate::providers::decoder::decode_events_partial(
            ResponsesStreamDecoder::new("openai"),
            events,
        );
        assert!(matches!(end, Err(ModelError::Provider { .. })), "{end:?}");
        assert_eq!(
            parts,
            vec![
                StreamPart::Usage {
                    usage: Usage::new(3, 2)
                },
                StreamPart::Finish {
                    reason: crate::model::FinishReason::new(FinishKind::Error, "failed"),
                    usage: Some(Usage::new(3, 2))
                },
            ]
        );
    }

    #[test]
    fn a_body_without_completed_is_truncated() {
        let err =
            decode(&[json!({"type": "response.output_text.delta", "delta": "hi"})]).unwrap_err();
        assert!(matches!(err, ModelError::Truncated { .. }));
    }
}

use serde_json::Value;

use super::mapping::{responses_finish, responses_usage};
use super::tool_item::{call_id, tool_input_key};
use crate::model::{ModelError, StreamPart};
use crate::providers::shared::wire::{
    error_at, list_at, non_empty, object_at, provider_error, response_metadata, str_at,
};

/// A non-streamed Responses API response as the parts a stream of it would
/// carry: message text and refusals, reasoning summaries and text, function
/// and custom tool calls, usage and the finish.
pub(crate) fn responses_response_parts(
    provider: &str,
    body: &Value,
) -> Result<Vec<StreamPart>, ModelError> {
    if let Some(error) = error_at(body) {
        return Err(provider_error(provider, error));
    }
    let output = list_at(provider, body, "output")?;
    let mut parts = vec![response_metadata(body)];
    let mut called_tools = false;
    for item in output {
        if let Some(input_key) = tool_input_key(item) {
            called_tools = true;
            let id = call_id(item);
            parts.push(StreamPart::ToolCallStart {
                id: id.clone(),
                name: str_at(item, "name").unwrap_or_default().to_owned(),
            });
            parts.push(StreamPart::ToolCallDelta {
                id,
                arguments: str_at(item, input_key).unwrap_or_default().to_owned(),
            });
            continue;
        }
        match str_at(item, "type") {
            Some("message") => {
                for piece in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match str_at(piece, "type") {
                        Some("output_text") => {
                            if let Some(text) = non_empty(piece, "text") {
                                parts.push(StreamPart::text(text));
                            }
                        }
                        Some("refusal") => {
                            if let Some(text) = non_empty(piece, "refusal") {
                                parts.push(StreamPart::RefusalDelta {
                                    text: text.to_owned(),
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            Some("reasoning") => {
                for key in ["summary", "content"] {
                    for piece in item
                        .get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(text) = non_empty(piece, "text") {
                            parts.push(StreamPart::reasoning(text));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let usage = object_at(body, "usage").map(responses_usage);
    parts.push(StreamPart::Finish {
        reason: responses_finish(body, "completed", called_tools),
        usage,
    });
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FinishKind, ModelInfo, ResponseAccumulator};
    use serde_json::json;

    #[test]
    fn output_items_fold_into_a_model_response() {
        let body = json!({
            "id": "resp_1", "model": "gpt-5-mini", "status": "completed",
            "output": [
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Thinking."}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Calling."}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"}
            ],
            "usage": {"input_tokens": 10, "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 5}}
        });
        let mut acc = ResponseAccumulator::new(ModelInfo::new("openai", "x"));
        for part in responses_response_parts("openai", &body).unwrap() {
            acc.push(&part);
        }
        let r = acc.finish();
        assert_eq!(
            (r.text.as_str(), r.reasoning.as_str()),
            ("Calling.", "Thinking.")
        );
        assert_eq!(r.tool_calls[0].id, "call_1");
        assert_eq!(r.tool_calls[0].arguments, json!({"a": 1}));
        assert_eq!(r.finish_reason.unwrap().kind, FinishKind::ToolCalls);
        assert_eq!(r.usage.unwrap().reasoning_tokens, Some(5));
    }
}

use serde_json::Value;

use super::mapping::{chat_finish, chat_usage, reasoning_text};
use crate::model::{ModelError, StreamPart};
use crate::providers::shared::wire::{
    error_at, non_empty, object_at, provider_error, response_metadata, str_at, text_of,
};

/// A non-streamed Chat Completions response as the parts a stream of it would
/// carry, for [`ResponseAccumulator`](crate::model::ResponseAccumulator) to fold.
pub(crate) fn chat_response_parts(
    provider: &str,
    body: &Value,
) -> Result<Vec<StreamPart>, ModelError> {
    if let Some(error) = error_at(body) {
        return Err(provider_error(provider, error));
    }
    let choice = body
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|cs| cs.first())
        .ok_or_else(|| ModelError::Decode {
            provider: provider.to_owned(),
            message: "the response has no `choices[0]`".into(),
        })?;
    let mut parts = vec![response_metadata(body)];
    let message = choice.get("message").unwrap_or(&Value::Null);
    if let Some(text) = reasoning_text(message) {
        parts.push(StreamPart::ReasoningDelta { text });
    }
    let text = message.get("content").map(text_of).unwrap_or_default();
    if !text.is_empty() {
        parts.push(StreamPart::TextDelta { text });
    }
    if let Some(text) = non_empty(message, "refusal") {
        parts.push(StreamPart::RefusalDelta {
            text: text.to_owned(),
        });
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for (n, call) in calls.into_iter().flatten().enumerate() {
        let id = non_empty(call, "id")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("call_{n}"));
        let function = call.get("function").unwrap_or(&Value::Null);
        parts.push(StreamPart::ToolCallStart {
            id: id.clone(),
            name: str_at(function, "name").unwrap_or_default().to_owned(),
        });
        let arguments = match function.get("arguments") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        parts.push(StreamPart::ToolCallDelta { id, arguments });
    }
    let usage = object_at(body, "usage").map(chat_usage);
    parts.push(StreamPart::Finish {
        reason: chat_finish(str_at(choice, "finish_reason").unwrap_or_default()),
        usage,
    });
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FinishKind, ModelInfo, ResponseAccumulator, Usage};
    use serde_json::json;

    #[test]
    fn a_tool_calling_response_folds_into_a_model_response() {
        let body = json!({
            "id": "chatcmpl-1", "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_a", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
            }}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 0}}
        });
        let mut acc = ResponseAccumulator::new(ModelInfo::new("openai", "gpt-4o-mini"));
        for part in chat_response_parts("openai", &body).unwrap() {
            acc.push(&part);
        }
        let response = acc.finish();
        assert_eq!(response.model.model, "gpt-4o-mini-2024-07-18");
        assert_eq!(response.tool_calls[0].id, "call_a");
        assert_eq!(response.tool_calls[0].arguments, json!({"city": "Paris"}));
        assert_eq!(response.finish_reason.unwrap().kind, FinishKind::ToolCalls);
        assert_eq!(
            response.usage,
            Some(Usage {
                cached_input_tokens: Some(0),
                ..Usage::new(20, 9)
            })
        );
    }

    #[test]
    fn an_error_body_is_the_providers_error() {
        let body = json!({"error": {"message": "bad", "type": "invalid_request_error"}});
        assert!(matches!(
            chat_response_parts("openai", &body),
            Err(ModelError::Provider { kind, .. }) if kind == "invalid_request_error"
        ));
    }
}

use serde_json::Value;

use super::finish::anthropic_finish;
use super::usage::AnthropicUsage;
use crate::model::{ModelError, Role, StreamPart};
use crate::providers::wire::{non_empty, provider_error, str_at};

/// A non-streamed Messages response as the parts a stream of it would carry:
/// text, thinking, redacted thinking and tool-use blocks, usage and the finish.
pub(crate) fn messages_response_parts(
    provider: &str,
    body: &Value,
) -> Result<Vec<StreamPart>, ModelError> {
    if str_at(body, "type") == Some("error") {
        return Err(provider_error(provider, body.get("error").unwrap_or(body)));
    }
    let content = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ModelError::Decode {
            provider: provider.to_owned(),
            message: "the response has no `content` list".into(),
        })?;
    let mut parts = vec![
        StreamPart::ResponseMetadata {
            id: non_empty(body, "id").map(str::to_owned),
            model: non_empty(body, "model").map(str::to_owned),
        },
        StreamPart::RoleDelta {
            role: Role::Assistant,
        },
    ];
    for block in content {
        match str_at(block, "type") {
            Some("text") => {
                if let Some(text) = non_empty(block, "text") {
                    parts.push(StreamPart::text(text));
                }
            }
            Some("thinking") => {
                if let Some(text) = non_empty(block, "thinking") {
                    parts.push(StreamPart::reasoning(text));
                }
            }
            Some("redacted_thinking") => parts.push(StreamPart::RedactedReasoning {
                data: str_at(block, "data").unwrap_or_default().to_owned(),
            }),
            Some("tool_use" | "server_tool_use" | "mcp_tool_use") => {
                let id = str_at(block, "id").unwrap_or_default().to_owned();
                parts.push(StreamPart::ToolCallStart {
                    id: id.clone(),
                    name: str_at(block, "name").unwrap_or_default().to_owned(),
                });
                let input = block.get("input").cloned().unwrap_or(Value::Null);
                let arguments = if input.is_null() {
                    String::new()
                } else {
                    input.to_string()
                };
                parts.push(StreamPart::ToolCallDelta { id, arguments });
            }
            _ => {}
        }
    }
    let usage = body.get("usage").filter(|u| u.is_object()).map(|u| {
        let mut usage = AnthropicUsage::default();
        usage.update(u);
        usage.to_usage()
    });
    parts.push(StreamPart::Finish {
        reason: anthropic_finish(str_at(body, "stop_reason").unwrap_or_default()),
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
    fn content_blocks_fold_into_a_model_response() {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
            "content": [
                {"type": "thinking", "thinking": "Let me see.", "signature": "s"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 12, "output_tokens": 30, "cache_read_input_tokens": 100}
        });
        let mut acc = ResponseAccumulator::new(ModelInfo::new("anthropic", "x"));
        for part in messages_response_parts("anthropic", &body).unwrap() {
            acc.push(&part);
        }
        let r = acc.finish();
        assert_eq!(
            (r.text.as_str(), r.reasoning.as_str()),
            ("Checking.", "Let me see.")
        );
        assert_eq!(r.tool_calls[0].arguments, json!({"city": "Paris"}));
        let finish = r.finish_reason.unwrap();
        assert_eq!(
            (finish.kind, finish.raw.as_str()),
            (FinishKind::ToolCalls, "tool_use")
        );
        let usage = r.usage.unwrap();
        assert_eq!(
            (usage.input_tokens, usage.cached_input_tokens),
            (112, Some(100))
        );
    }
}

use serde_json::Value;

use super::block::block_parts;
use super::mapping::{AnthropicUsage, anthropic_finish};
use crate::model::{ModelError, Role, StreamPart};
use crate::providers::shared::wire::{
    list_at, object_at, provider_error, response_metadata, str_at,
};

/// A non-streamed Messages response as the parts a stream of it would carry:
/// text, thinking, redacted thinking and tool-use blocks, usage and the finish.
pub(crate) fn messages_response_parts(
    provider: &str,
    body: &Value,
) -> Result<Vec<StreamPart>, ModelError> {
    if str_at(body, "type") == Some("error") {
        return Err(provider_error(provider, body.get("error").unwrap_or(body)));
    }
    let content = list_at(provider, body, "content")?;
    let mut parts = vec![
        response_metadata(body),
        StreamPart::RoleDelta {
            role: Role::Assistant,
        },
    ];
    for block in content {
        if let Some(id) = block_parts(block, &mut parts) {
            let arguments = match block.get("input") {
                None | Some(Value::Null) => String::new(),
                Some(input) => input.to_string(),
            };
            parts.push(StreamPart::ToolCallDelta { id, arguments });
        }
    }
    let usage = object_at(body, "usage").map(|u| {
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

use serde_json::{Map, Value, json};

use crate::model::{ContentPart, ImageSource, ModelRequest, ResponseFormat, Role, ToolChoice};
use crate::providers::error::AdapterError;
use crate::providers::shared::message_rules::WireRequest;
use crate::providers::shared::request_body::{
    finish_body, insert_sampling, insert_tools, tool_fields,
};

const REQUEST: WireRequest = WireRequest {
    api: "the Anthropic Messages API",
    messages_field: "messages",
};

/// What to do about a setting this API lacks.
const SETTING_HINT: &str = "leave it unset, or send the provider's own field through `extra`";

/// The `/v1/messages` body for `req`.
///
/// The system prompt and any system messages that open the conversation go
/// in `system`; tool messages become `user` turns of `tool_result` blocks;
/// consecutive turns of one role are merged into one, as the API expects;
/// empty text blocks (which it rejects) are left out. `max_tokens` is
/// required by the API: `default_max_tokens` fills in when the request sets none.
pub(crate) fn messages_body(
    req: &ModelRequest,
    model: &str,
    default_max_tokens: u32,
    stream: bool,
) -> Result<Value, AdapterError> {
    let settings = &req.settings;
    if settings.seed.is_some() {
        return Err(REQUEST.unsupported_setting("`seed`", SETTING_HINT));
    }
    if matches!(
        settings.response_format,
        Some(ResponseFormat::Json | ResponseFormat::JsonSchema { .. })
    ) {
        return Err(REQUEST.unsupported_setting("a JSON response format", SETTING_HINT));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "max_tokens".into(),
        json!(settings.max_tokens.unwrap_or(default_max_tokens)),
    );
    let (system, messages) = conversation(req)?;
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages));
    insert_tools(&mut body, &req.tools, |tool| {
        Value::Object(tool_fields(tool, "input_schema"))
    });
    if let Some(choice) = &settings.tool_choice {
        let value = match choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool { name } => json!({"type": "tool", "name": name}),
        };
        body.insert("tool_choice".into(), value);
    }
    insert_sampling(&mut body, settings);
    if !settings.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(settings.stop));
    }
    Ok(finish_body(body, stream, &req.extra))
}

/// The system texts and the `messages` list.
fn conversation(req: &ModelRequest) -> Result<(Vec<String>, Vec<Value>), AdapterError> {
    let mut system: Vec<String> = req.system.iter().cloned().collect();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (index, message) in req.messages.iter().enumerate() {
        let at = REQUEST.message(index, message.role);
        if message.role == Role::System {
            if !turns.is_empty() {
                return Err(at.unsupported(
                    "a system prompt after the conversation began",
                    "put system text in `ModelRequest::system` or before the first message",
                ));
            }
            for part in &message.content {
                match part {
                    ContentPart::Text { text } => system.push(text.clone()),
                    _ => {
                        return Err(
                            at.unsupported("anything but text", "system prompts are text only")
                        );
                    }
                }
            }
            continue;
        }
        let role = if message.role == Role::Assistant {
            "assistant"
        } else {
            "user"
        };
        let mut blocks = Vec::with_capacity(message.content.len());
        for part in &message.content {
            blocks.push(match part {
                ContentPart::Text { text } => {
                    if text.is_empty() {
                        continue;
                    }
                    json!({"type": "text", "text": text})
                }
                ContentPart::Image { source } => {
                    // Tool messages go out as user turns, so they may hold images.
                    at.check_image(message.role != Role::Assistant)?;
                    let source = match source {
                        ImageSource::Url { url } => json!({"type": "url", "url": url}),
                        ImageSource::Base64 { media_type, data } => {
                            json!({"type": "base64", "media_type": media_type, "data": data})
                        }
                    };
                    json!({"type": "image", "source": source})
                }
                ContentPart::ToolCall {
                    id,
                    name,
                    arguments,
                } => {
                    at.check_tool_call()?;
                    json!({"type": "tool_use", "id": id, "name": name, "input": arguments})
                }
                ContentPart::ToolResult {
                    call_id,
                    content,
                    is_error,
                } => {
                    at.check_tool_result()?;
                    let mut block =
                        json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
                    if *is_error {
                        block["is_error"] = json!(true);
                    }
                    block
                }
            });
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, messages))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Message, ToolDefinition};

    #[test]
    fn a_tool_round_trip_maps_to_blocks_and_merges_turns() {
        let req = ModelRequest::new("claude-haiku-4-5")
            .system("Use tools.")
            .message(Message::text(Role::System, "Be brief."))
            .user("Weather in Paris?")
            .message(Message {
                role: Role::Assistant,
                content: vec![
                    ContentPart::text(""),
                    ContentPart::ToolCall {
                        id: "toolu_1".into(),
                        name: "get_weather".into(),
                        arguments: json!({"city": "Paris"}),
                    },
                ],
            })
            .message(Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolResult {
                    call_id: "toolu_1".into(),
                    content: "no data".into(),
                    is_error: true,
                }],
            })
            .user("And tomorrow?")
            .tool(ToolDefinition::new(
                "get_weather",
                "Weather",
                json!({"type": "object"}),
            ));
        let mut req = req;
        req.settings.tool_choice = Some(ToolChoice::Required);
        req.settings.stop = vec!["END".into()];
        let body = messages_body(&req, "claude-haiku-4-5", 1024, true).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-haiku-4-5",
                "max_tokens": 1024,
                "system": "Use tools.\n\nBe brief.",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "no data", "is_error": true},
                        {"type": "text", "text": "And tomorrow?"}
                    ]}
                ],
                "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any"},
                "stop_sequences": ["END"],
                "stream": true
            })
        );
    }

    #[test]
    fn a_system_message_mid_conversation_is_a_typed_error() {
        let req = ModelRequest::new("m")
            .user("hi")
            .message(Message::text(Role::System, "late"));
        let err = messages_body(&req, "m", 1024, false).unwrap_err();
        assert!(err.to_string().contains("messages[1]"), "{err}");
    }

    #[test]
    fn json_response_formats_and_seeds_are_typed_errors() {
        let mut req = ModelRequest::new("m").user("hi");
        req.settings.response_format = Some(ResponseFormat::Json);
        assert!(messages_body(&req, "m", 1024, false).is_err());
        req.settings.response_format = Some(ResponseFormat::Text);
        assert!(messages_body(&req, "m", 1024, false).is_ok());
        req.settings.seed = Some(3);
        assert!(messages_body(&req, "m", 1024, false).is_err());
    }
}

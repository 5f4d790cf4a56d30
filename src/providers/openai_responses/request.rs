use serde_json::{Map, Value, json};

use crate::model::{ContentPart, Message, ModelRequest, ResponseFormat, Role, ToolChoice};
use crate::providers::error::AdapterError;
use crate::providers::openai_chat::{arguments_text, image_url};
use crate::providers::wire::{merge_extra, openai_tool_choice_mode, role_phrase};

const API: &str = "the OpenAI Responses API";

/// The `/responses` body for `req`.
///
/// The system prompt goes in `instructions`; messages become `input` items
/// (tool calls `function_call` items, tool results `function_call_output`
/// items). Function tools are sent with `strict: false`, as Chat Completions
/// treats them (the Responses API would otherwise default to strict schemas).
pub(crate) fn responses_body(
    req: &ModelRequest,
    model: &str,
    stream: bool,
) -> Result<Value, AdapterError> {
    let settings = &req.settings;
    if settings.seed.is_some() {
        return Err(unsupported_setting("`seed`"));
    }
    if !settings.stop.is_empty() {
        return Err(unsupported_setting("stop sequences (`stop`)"));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    if let Some(system) = &req.system {
        body.insert("instructions".into(), json!(system));
    }
    let mut input = Vec::with_capacity(req.messages.len());
    for (index, message) in req.messages.iter().enumerate() {
        push_items(index, message, &mut input)?;
    }
    body.insert("input".into(), Value::Array(input));
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|tool| {
                let mut t = Map::new();
                t.insert("type".into(), json!("function"));
                t.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    t.insert("description".into(), json!(description));
                }
                t.insert("parameters".into(), tool.parameters.clone());
                t.insert("strict".into(), json!(false));
                Value::Object(t)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &settings.tool_choice {
        let value = match choice {
            ToolChoice::Tool { name } => json!({"type": "function", "name": name}),
            mode => json!(openai_tool_choice_mode(mode)),
        };
        body.insert("tool_choice".into(), value);
    }
    if let Some(t) = settings.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = settings.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(n) = settings.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(format) = &settings.response_format {
        let format = match format {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::Json => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => json!({"type": "json_schema", "name": name, "schema": schema, "strict": strict}),
        };
        body.insert("text".into(), json!({ "format": format }));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    merge_extra(&mut body, &req.extra);
    Ok(Value::Object(body))
}

fn unsupported_setting(what: &str) -> AdapterError {
    AdapterError::Unsupported {
        api: API,
        what: what.to_owned(),
        hint: "leave it unset, or use the Chat Completions adapter `OpenAi`",
    }
}

fn unsupported(index: usize, role: Role, part: &str, hint: &'static str) -> AdapterError {
    AdapterError::Unsupported {
        api: API,
        what: format!("{part} in {} (input[{index}])", role_phrase(role)),
        hint,
    }
}

/// One message as input items, in order: its text and images as a message
/// item, then its tool calls or tool results as items of their own.
fn push_items(index: usize, message: &Message, out: &mut Vec<Value>) -> Result<(), AdapterError> {
    let mut content = Vec::new();
    let mut items = Vec::new();
    for part in &message.content {
        match part {
            ContentPart::Text { text } => {
                let kind = if message.role == Role::Assistant {
                    "output_text"
                } else {
                    "input_text"
                };
                content.push(json!({"type": kind, "text": text}));
            }
            ContentPart::Image { source } => {
                if message.role != Role::User {
                    return Err(unsupported(
                        index,
                        message.role,
                        "an image",
                        "images can only be sent in user messages",
                    ));
                }
                content.push(json!({"type": "input_image", "image_url": image_url(source)}));
            }
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                if message.role != Role::Assistant {
                    return Err(unsupported(
                        index,
                        message.role,
                        "a tool call",
                        "tool calls belong in assistant messages",
                    ));
                }
                items.push(json!({
                    "type": "function_call",
                    "call_id": id,
                    "name": name,
                    "arguments": arguments_text(arguments)
                }));
            }
            ContentPart::ToolResult {
                call_id, content, ..
            } => {
                if matches!(message.role, Role::Assistant | Role::System) {
                    return Err(unsupported(
                        index,
                        message.role,
                        "a tool result",
                        "send tool results in a tool or user message",
                    ));
                }
                items.push(
                    json!({"type": "function_call_output", "call_id": call_id, "output": content}),
                );
            }
        }
    }
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => {
            if !content.is_empty() {
                return Err(unsupported(
                    index,
                    message.role,
                    "text or an image",
                    "a tool message holds tool results only; put other content in a user message",
                ));
            }
            out.extend(items);
            return Ok(());
        }
    };
    // Text of an assistant turn that only called tools is empty: no message item.
    let has_text = content
        .iter()
        .any(|c| c["type"] == "input_image" || c["text"].as_str().is_some_and(|t| !t.is_empty()));
    if has_text || (items.is_empty() && message.role != Role::Assistant) {
        out.push(json!({"type": "message", "role": role, "content": content}));
    }
    out.extend(items);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ImageSource, ToolDefinition};

    #[test]
    fn a_tool_round_trip_maps_to_items() {
        let req = ModelRequest::new("gpt-5-mini")
            .system("Use tools.")
            .message(Message {
                role: Role::User,
                content: vec![
                    ContentPart::text("Weather here?"),
                    ContentPart::Image {
                        source: ImageSource::Url {
                            url: "https://example.com/sky.jpg".into(),
                        },
                    },
                ],
            })
            .message(Message {
                role: Role::Assistant,
                content: vec![
                    ContentPart::text(""),
                    ContentPart::ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: json!({"city": "Paris"}),
                    },
                ],
            })
            .message(Message::tool_result("call_1", "sunny"))
            .tool(ToolDefinition::new(
                "get_weather",
                "Weather",
                json!({"type": "object"}),
            ))
            .max_tokens(100);
        let body = responses_body(&req, "gpt-5-mini", true).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-5-mini",
                "instructions": "Use tools.",
                "input": [
                    {"type": "message", "role": "user", "content": [
                        {"type": "input_text", "text": "Weather here?"},
                        {"type": "input_image", "image_url": "https://example.com/sky.jpg"}
                    ]},
                    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
                ],
                "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                           "parameters": {"type": "object"}, "strict": false}],
                "max_output_tokens": 100,
                "stream": true
            })
        );
    }

    #[test]
    fn settings_the_api_lacks_are_typed_errors() {
        let mut req = ModelRequest::new("m").user("hi");
        req.settings.seed = Some(1);
        let err = responses_body(&req, "m", false).unwrap_err();
        assert!(err.to_string().contains("`seed`"), "{err}");
        req.settings.seed = None;
        req.settings.stop = vec!["x".into()];
        assert!(responses_body(&req, "m", false).is_err());
    }

    #[test]
    fn json_schema_goes_in_text_format_and_extra_merges_beside_it() {
        let mut req = ModelRequest::new("m")
            .user("hi")
            .extra("text", json!({"verbosity": "low"}));
        req.settings.response_format = Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            schema: json!({"type": "object"}),
            strict: true,
        });
        let body = responses_body(&req, "m", false).unwrap();
        assert_eq!(
            body["text"],
            json!({"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": true},
                   "verbosity": "low"})
        );
    }
}

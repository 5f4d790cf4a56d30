use serde_json::{Map, Value, json};

use crate::model::{ContentPart, Message, ModelRequest, Role, ToolChoice};
use crate::providers::error::AdapterError;
use crate::providers::shared::message_rules::WireRequest;
use crate::providers::shared::openai_request::{
    SchemaPlacement, arguments_text, content_in_tool_message, image_url, response_format,
    tool_choice_mode,
};
use crate::providers::shared::request_body::{
    finish_body, insert_sampling, insert_tools, tool_fields,
};
use crate::providers::shared::wire::role_name;

const REQUEST: WireRequest = WireRequest {
    api: "the OpenAI Responses API",
    messages_field: "input",
};

/// What to do about a setting this API lacks.
const SETTING_HINT: &str = "leave it unset, or use the Chat Completions adapter `OpenAi`";

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
        return Err(REQUEST.unsupported_setting("`seed`", SETTING_HINT));
    }
    if !settings.stop.is_empty() {
        return Err(REQUEST.unsupported_setting("stop sequences (`stop`)", SETTING_HINT));
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
    insert_tools(&mut body, &req.tools, |tool| {
        let mut fields = tool_fields(tool, "parameters");
        fields.insert("type".into(), json!("function"));
        fields.insert("strict".into(), json!(false));
        Value::Object(fields)
    });
    if let Some(choice) = &settings.tool_choice {
        let value = match choice {
            ToolChoice::Tool { name } => json!({"type": "function", "name": name}),
            mode => json!(tool_choice_mode(mode)),
        };
        body.insert("tool_choice".into(), value);
    }
    insert_sampling(&mut body, settings);
    if let Some(n) = settings.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(format) = &settings.response_format {
        let format = response_format(format, SchemaPlacement::BesideType);
        body.insert("text".into(), json!({ "format": format }));
    }
    Ok(finish_body(body, stream, &req.extra))
}

/// One message as input items, in order: its text and images as a message
/// item, then its tool calls or tool results as items of their own.
fn push_items(index: usize, message: &Message, out: &mut Vec<Value>) -> Result<(), AdapterError> {
    let at = REQUEST.message(index, message.role);
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
                at.check_image(message.role == Role::User)?;
                content.push(json!({"type": "input_image", "image_url": image_url(source)}));
            }
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                at.check_tool_call()?;
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
                at.check_tool_result()?;
                items.push(
                    json!({"type": "function_call_output", "call_id": call_id, "output": content}),
                );
            }
        }
    }
    match message.role {
        Role::Tool if !content.is_empty() => return Err(content_in_tool_message(at)),
        // Its results are items of their own: no message item.
        Role::Tool => {}
        Role::System | Role::User | Role::Assistant => {
            // Text of an assistant turn that only called tools is empty: no message item.
            let has_text = content.iter().any(|c| {
                c["type"] == "input_image" || c["text"].as_str().is_some_and(|t| !t.is_empty())
            });
            if has_text || (items.is_empty() && message.role != Role::Assistant) {
                let role = role_name(message.role);
                out.push(json!({"type": "message", "role": role, "content": content}));
            }
        }
    }
    out.extend(items);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ImageSource, ResponseFormat, ToolDefinition};

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

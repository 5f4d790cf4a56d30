use serde_json::{Map, Value, json};

use crate::model::{
    ContentPart, ImageSource, Message, ModelRequest, ResponseFormat, Role, ToolChoice,
};
use crate::providers::error::AdapterError;
use crate::providers::wire::{merge_extra, openai_tool_choice_mode, role_phrase};

const API: &str = "OpenAI Chat Completions";

/// Which body field carries the token limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum MaxTokensField {
    /// `max_completion_tokens`: OpenAI's current name, required by its reasoning models.
    #[default]
    MaxCompletionTokens,
    /// `max_tokens`: the older name some OpenAI-compatible servers still expect.
    MaxTokens,
}

impl MaxTokensField {
    fn key(self) -> &'static str {
        match self {
            Self::MaxCompletionTokens => "max_completion_tokens",
            Self::MaxTokens => "max_tokens",
        }
    }
}

/// The `/chat/completions` body for `req`.
pub(crate) fn chat_body(
    req: &ModelRequest,
    model: &str,
    max_tokens_field: MaxTokensField,
    stream: bool,
) -> Result<Value, AdapterError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages(req)?));
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|tool| {
                let mut function = Map::new();
                function.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    function.insert("description".into(), json!(description));
                }
                function.insert("parameters".into(), tool.parameters.clone());
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let settings = &req.settings;
    if let Some(choice) = &settings.tool_choice {
        let value = match choice {
            ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
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
        body.insert(max_tokens_field.key().into(), json!(n));
    }
    if !settings.stop.is_empty() {
        body.insert("stop".into(), json!(settings.stop));
    }
    if let Some(seed) = settings.seed {
        body.insert("seed".into(), json!(seed));
    }
    if let Some(format) = &settings.response_format {
        let value = match format {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::Json => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => json!({
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": strict}
            }),
        };
        body.insert("response_format".into(), value);
    }
    if stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    merge_extra(&mut body, &req.extra);
    Ok(Value::Object(body))
}

fn messages(req: &ModelRequest) -> Result<Vec<Value>, AdapterError> {
    let mut out = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        out.push(json!({"role": "system", "content": system}));
    }
    for (index, message) in req.messages.iter().enumerate() {
        push_message(index, message, &mut out)?;
    }
    Ok(out)
}

fn unsupported(index: usize, role: Role, part: &str, hint: &'static str) -> AdapterError {
    AdapterError::Unsupported {
        api: API,
        what: format!("{part} in {} (messages[{index}])", role_phrase(role)),
        hint,
    }
}

/// One message as Chat Completions messages: tool results become `tool`
/// messages of their own (before the rest of a user message, whose content
/// follows them); the rest stays one message of the same role.
fn push_message(index: usize, message: &Message, out: &mut Vec<Value>) -> Result<(), AdapterError> {
    let mut content = Vec::new();
    let mut tool_calls = Vec::new();
    for part in &message.content {
        match part {
            ContentPart::ToolResult {
                call_id, content, ..
            } => {
                if message.role == Role::Assistant || message.role == Role::System {
                    return Err(unsupported(
                        index,
                        message.role,
                        "a tool result",
                        "send tool results in a tool or user message",
                    ));
                }
                out.push(json!({"role": "tool", "tool_call_id": call_id, "content": content}));
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
                tool_calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments_text(arguments)}
                }));
            }
            ContentPart::Text { text } => content.push(json!({"type": "text", "text": text})),
            ContentPart::Image { source } => {
                if message.role != Role::User {
                    return Err(unsupported(
                        index,
                        message.role,
                        "an image",
                        "images can only be sent in user messages",
                    ));
                }
                content.push(json!({"type": "image_url", "image_url": {"url": image_url(source)}}));
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
            return Ok(());
        }
    };
    if message.role == Role::Assistant {
        let text: String = content
            .iter()
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .collect();
        let mut msg = Map::new();
        msg.insert("role".into(), json!(role));
        msg.insert(
            "content".into(),
            if text.is_empty() && !tool_calls.is_empty() {
                Value::Null
            } else {
                json!(text)
            },
        );
        if !tool_calls.is_empty() {
            msg.insert("tool_calls".into(), Value::Array(tool_calls));
        }
        out.push(Value::Object(msg));
        return Ok(());
    }
    if content.is_empty() {
        // A user message of tool results only: nothing else to send.
        if message.content.is_empty() {
            out.push(json!({"role": role, "content": ""}));
        }
        return Ok(());
    }
    let only_text = content.iter().all(|c| c["type"] == "text");
    let value = if only_text && content.len() == 1 {
        content[0]["text"].clone()
    } else if message.role == Role::System {
        let text: String = content
            .iter()
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .collect();
        json!(text)
    } else {
        Value::Array(content)
    };
    out.push(json!({"role": role, "content": value}));
    Ok(())
}

/// Tool call arguments as the JSON text the wire format carries. Arguments
/// kept as a raw string (they did not parse) go back as that string.
pub(crate) fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// An image as the URL OpenAI's APIs take: the URL itself, or a data URL.
pub(crate) fn image_url(source: &ImageSource) -> String {
    match source {
        ImageSource::Url { url } => url.clone(),
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Settings, ToolDefinition};

    #[test]
    fn a_full_request_maps_every_field() {
        let req = ModelRequest {
            model: "gpt-4o-mini".into(),
            system: Some("Be brief.".into()),
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![
                        ContentPart::text("What is this?"),
                        ContentPart::Image {
                            source: ImageSource::Base64 {
                                media_type: "image/png".into(),
                                data: "AAAA".into(),
                            },
                        },
                    ],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![ContentPart::ToolCall {
                        id: "call_1".into(),
                        name: "look".into(),
                        arguments: json!({"zoom": 2}),
                    }],
                },
                Message::tool_result("call_1", "a cat"),
            ],
            tools: vec![ToolDefinition::new(
                "look",
                "Looks closer",
                json!({"type": "object"}),
            )],
            settings: Settings {
                temperature: Some(0.5),
                max_tokens: Some(64),
                top_p: Some(0.9),
                stop: vec!["END".into()],
                seed: Some(7),
                tool_choice: Some(ToolChoice::Tool {
                    name: "look".into(),
                }),
                response_format: Some(ResponseFormat::Json),
            },
            extra: json!({"user": "u-1"}).as_object().cloned().unwrap(),
        };
        let body = chat_body(
            &req,
            "gpt-4o-mini",
            MaxTokensField::MaxCompletionTokens,
            true,
        )
        .unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                    ]},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"zoom\":2}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
                ],
                "tools": [{"type": "function", "function": {"name": "look", "description": "Looks closer", "parameters": {"type": "object"}}}],
                "tool_choice": {"type": "function", "function": {"name": "look"}},
                "temperature": 0.5,
                "top_p": 0.9,
                "max_completion_tokens": 64,
                "stop": ["END"],
                "seed": 7,
                "response_format": {"type": "json_object"},
                "stream": true,
                "stream_options": {"include_usage": true},
                "user": "u-1"
            })
        );
    }

    #[test]
    fn legacy_servers_get_max_tokens() {
        let req = ModelRequest::new("m").user("hi").max_tokens(5);
        let body = chat_body(&req, "m", MaxTokensField::MaxTokens, false).unwrap();
        assert_eq!(body["max_tokens"], 5);
        assert!(body.get("max_completion_tokens").is_none());
        assert!(body.get("stream").is_none());
    }

    #[test]
    fn an_image_in_an_assistant_message_is_a_typed_error() {
        let req = ModelRequest::new("m").message(Message {
            role: Role::Assistant,
            content: vec![ContentPart::Image {
                source: ImageSource::Url {
                    url: "https://x/y.png".into(),
                },
            }],
        });
        let err = chat_body(&req, "m", MaxTokensField::MaxTokens, false).unwrap_err();
        assert!(
            err.to_string()
                .contains("an image in an assistant message (messages[0])"),
            "{err}"
        );
    }
}

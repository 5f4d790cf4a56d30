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
    api: "OpenAI Chat Completions",
    messages_field: "messages",
};

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
    insert_tools(
        &mut body,
        &req.tools,
        |tool| json!({"type": "function", "function": tool_fields(tool, "parameters")}),
    );
    let settings = &req.settings;
    if let Some(choice) = &settings.tool_choice {
        let value = match choice {
            ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
            mode => json!(tool_choice_mode(mode)),
        };
        body.insert("tool_choice".into(), value);
    }
    insert_sampling(&mut body, settings);
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
        let value = response_format(format, SchemaPlacement::UnderJsonSchema);
        body.insert("response_format".into(), value);
    }
    if stream {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(finish_body(body, stream, &req.extra))
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

/// One message as Chat Completions messages: tool results become `tool`
/// messages of their own (before the rest of a user message, whose content
/// follows them); the rest stays one message of the same role.
fn push_message(index: usize, message: &Message, out: &mut Vec<Value>) -> Result<(), AdapterError> {
    let at = REQUEST.message(index, message.role);
    let mut content = Vec::new();
    let mut tool_calls = Vec::new();
    for part in &message.content {
        match part {
            ContentPart::ToolResult {
                call_id, content, ..
            } => {
                at.check_tool_result()?;
                out.push(json!({"role": "tool", "tool_call_id": call_id, "content": content}));
            }
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                at.check_tool_call()?;
                tool_calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments_text(arguments)}
                }));
            }
            ContentPart::Text { text } => content.push(json!({"type": "text", "text": text})),
            ContentPart::Image { source } => {
                at.check_image(message.role == Role::User)?;
                content.push(json!({"type": "image_url", "image_url": {"url": image_url(source)}}));
            }
        }
    }
    let role = role_name(message.role);
    match message.role {
        Role::Tool if !content.is_empty() => return Err(content_in_tool_message(at)),
        // Its results went out above, as `tool` messages.
        Role::Tool => return Ok(()),
        Role::Assistant => {
            out.push(assistant_message(&content, tool_calls));
            return Ok(());
        }
        Role::System | Role::User => {}
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
        json!(joined_text(&content))
    } else {
        Value::Array(content)
    };
    out.push(json!({"role": role, "content": value}));
    Ok(())
}

/// An assistant message: its text as one string (`null` when it only
/// called tools), and its tool calls.
fn assistant_message(content: &[Value], tool_calls: Vec<Value>) -> Value {
    let text = joined_text(content);
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
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
    Value::Object(msg)
}

/// The text of content parts, joined.
fn joined_text(content: &[Value]) -> String {
    content
        .iter()
        .filter_map(|c| c.get("text").and_then(Value::as_str))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ImageSource, ResponseFormat, Settings, ToolDefinition};

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

//! What OpenAI's two APIs, Chat Completions and Responses, write alike in a
//! request: role names, tool-call arguments as JSON text, images as URLs,
//! the tool-choice modes, response formats, and tool messages that hold
//! tool results only.

use serde_json::{Value, json};

use super::message_rules::MessageAt;
use crate::model::{ImageSource, ResponseFormat, ToolChoice};
use crate::providers::error::AdapterError;

/// Text or an image in a tool message: OpenAI's tool messages and items
/// carry one tool result each, nothing else.
pub(crate) fn content_in_tool_message(at: MessageAt) -> AdapterError {
    at.unsupported(
        "text or an image",
        "a tool message holds tool results only; put other content in a user message",
    )
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

/// The tool-choice string both APIs take (`auto`, `none`, `required`); a
/// named tool, which each API writes its own way, is `None`.
pub(crate) fn tool_choice_mode(choice: &ToolChoice) -> Option<&'static str> {
    match choice {
        ToolChoice::Auto => Some("auto"),
        ToolChoice::None => Some("none"),
        ToolChoice::Required => Some("required"),
        ToolChoice::Tool { .. } => None,
    }
}

/// Where an API puts a JSON schema's `name`, `schema` and `strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemaPlacement {
    /// Beside `"type": "json_schema"` (Responses).
    BesideType,
    /// In an object under `json_schema` (Chat Completions).
    UnderJsonSchema,
}

/// A response format as both APIs write it: `{"type": "text"}`,
/// `{"type": "json_object"}`, or `{"type": "json_schema"}` with the schema
/// where `placement` says.
pub(crate) fn response_format(format: &ResponseFormat, placement: SchemaPlacement) -> Value {
    match format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::Json => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let spec = json!({"name": name, "schema": schema, "strict": strict});
            match placement {
                SchemaPlacement::UnderJsonSchema => {
                    json!({"type": "json_schema", "json_schema": spec})
                }
                SchemaPlacement::BesideType => {
                    let mut format = spec;
                    format["type"] = json!("json_schema");
                    format
                }
            }
        }
    }
}

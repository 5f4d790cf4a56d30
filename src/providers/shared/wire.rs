//! Small JSON helpers shared by the readers of every API's responses and
//! events.

use serde_json::Value;

use crate::model::{ModelError, Role, StreamPart};
use crate::providers::sse::SseEvent;

/// The wire name of a message's role, in both OpenAI APIs (and in what
/// their request decoders say of one).
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// Parses an event's data as JSON, or says which event could not be read.
pub(crate) fn event_json(provider: &str, event: &SseEvent) -> Result<Value, ModelError> {
    serde_json::from_str(&event.data).map_err(|e| ModelError::Decode {
        provider: provider.to_owned(),
        message: format!(
            "event `{}` does not hold JSON ({e}): {}",
            event.kind(),
            excerpt(&event.data)
        ),
    })
}

/// An event's JSON data and its type: the data's `type` field, else the
/// `event:` line (APIs with named events repeat the type in both; some
/// servers send only one of them).
pub(crate) fn typed_event(provider: &str, event: &SseEvent) -> Result<(String, Value), ModelError> {
    let data = event_json(provider, event)?;
    let kind = str_at(&data, "type").unwrap_or(event.kind()).to_owned();
    Ok((kind, data))
}

/// The first 200 characters of `text`, for error messages.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A string field, if present and a string.
pub(crate) fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// A non-empty string field.
pub(crate) fn non_empty<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    str_at(value, key).filter(|s| !s.is_empty())
}

/// A field, if present and an object (a `usage` sent as `null` is no usage).
pub(crate) fn object_at<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.get(key).filter(|v| v.is_object())
}

/// A list field, or the decode error saying the response lacks it.
#[cfg(feature = "http")]
pub(crate) fn list_at<'a>(
    provider: &str,
    body: &'a Value,
    key: &str,
) -> Result<&'a [Value], ModelError> {
    body.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| ModelError::Decode {
            provider: provider.to_owned(),
            message: format!("the response has no `{key}` list"),
        })
}

/// The `error` a body or chunk carries in OpenAI's shape, unless absent or `null`.
pub(crate) fn error_at(value: &Value) -> Option<&Value> {
    value.get("error").filter(|e| !e.is_null())
}

/// The [`StreamPart::ResponseMetadata`] of a response object: its non-empty
/// `id` and `model`.
pub(crate) fn response_metadata(response: &Value) -> StreamPart {
    StreamPart::ResponseMetadata {
        id: non_empty(response, "id").map(str::to_owned),
        model: non_empty(response, "model").map(str::to_owned),
    }
}

/// An unsigned integer at a `/`-separated JSON pointer.
pub(crate) fn u64_at(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

/// Text that servers send either as a string or as a list of parts with
/// `text` (some OpenAI-compatible servers do the latter).
pub(crate) fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| str_at(p, "type").is_none_or(|t| t == "text" || t == "output_text"))
            .filter_map(|p| str_at(p, "text"))
            .collect(),
        _ => String::new(),
    }
}

/// The provider's message and type from an error object such as OpenAI's
/// `{"message", "type", "code"}` or Anthropic's `{"type", "message"}`.
///
/// The kind is the error's `type`, else its `code`. When an error has both
/// and they differ (Groq: `type` `invalid_request_error`, `code`
/// `tool_use_failed`), the code, often the more precise of the two, is kept
/// at the end of the message as `(code: …)`.
pub(crate) fn error_fields(error: &Value) -> (String, String) {
    if let Some(text) = error.as_str() {
        return ("error".to_owned(), text.to_owned());
    }
    let code = match error.get("code") {
        Some(Value::String(code)) if !code.is_empty() => Some(code.clone()),
        Some(Value::Number(code)) => Some(code.to_string()),
        _ => None,
    };
    // `type` names the error, except in the Responses API's `error` event,
    // where it is the event's own type and `code` names the error.
    let kind = non_empty(error, "type")
        .filter(|t| *t != "error")
        .map(str::to_owned);
    let mut message = str_at(error, "message")
        .map(str::to_owned)
        .unwrap_or_else(|| error.to_string());
    let kind = match (kind, code) {
        (Some(kind), Some(code)) => {
            if code != kind {
                message = format!("{message} (code: {code})");
            }
            kind
        }
        (Some(kind), None) => kind,
        (None, Some(code)) => code,
        (None, None) => "error".to_owned(),
    };
    (kind, message)
}

/// A provider-reported error.
pub(crate) fn provider_error(provider: &str, error: &Value) -> ModelError {
    let (kind, message) = error_fields(error);
    ModelError::Provider {
        provider: provider.to_owned(),
        kind,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_fields_read_both_providers_shapes() {
        let openai =
            json!({"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"});
        assert_eq!(
            error_fields(&openai),
            (
                "requests".into(),
                "Rate limit (code: rate_limit_exceeded)".into()
            )
        );
        let groq = json!({"message": "no tool", "type": "invalid_request_error", "code": "tool_use_failed"});
        assert_eq!(
            error_fields(&groq),
            (
                "invalid_request_error".into(),
                "no tool (code: tool_use_failed)".into()
            )
        );
        let coded = json!({"message": "boom", "code": 500});
        assert_eq!(error_fields(&coded), ("500".into(), "boom".into()));
        assert_eq!(
            error_fields(&json!("plain")),
            ("error".into(), "plain".into())
        );
        let responses_event = json!({"type": "error", "code": "server_error", "message": "x"});
        assert_eq!(
            error_fields(&responses_event),
            ("server_error".into(), "x".into())
        );
    }

    #[test]
    fn excerpt_cuts_on_character_boundaries() {
        let long = "é".repeat(300);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), 201);
    }
}

//! The way back from a Chat Completions request body to a [`ModelRequest`]:
//! what a client of the protocol sent (async-openai, a proxy's client),
//! read as the request tracedeck records, matches and replays.
//!
//! The mapping is the inverse of the [`OpenAi`](crate::providers::OpenAi)
//! adapter's: encoding the decoded request gives the body back, field for
//! field. Fields the mapping has no place for are kept verbatim in
//! [`ModelRequest::extra`] (which the adapter merges back into the body), so
//! nothing a client sends is silently dropped. The two exceptions are the
//! transport's: `stream` (returned as [`ChatRequest::stream`]) and
//! `stream_options.include_usage` (tracedeck's streams always report usage).
//! Messages are the one place without a fallback: a message the model
//! boundary cannot hold is a [`RequestDecodeError`].

use serde_json::{Map, Value};

use crate::model::{
    ContentPart, ImageSource, Message, ModelRequest, ResponseFormat, Role, ToolChoice,
    ToolDefinition,
};

/// A decoded Chat Completions request: the model request and whether the
/// client asked for a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The request as tracedeck records it.
    pub request: ModelRequest,
    /// `stream: true` in the body.
    pub stream: bool,
}

/// Why a Chat Completions request body could not be read as a [`ModelRequest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestDecodeError {
    /// The body is not JSON.
    #[error("the request body is not JSON: {message}")]
    NotJson {
        /// The JSON parser's message.
        message: String,
    },
    /// A field is missing or has the wrong type.
    #[error("`{at}` must be {expected}")]
    Invalid {
        /// Where, as a path into the body (`messages[2].content`).
        at: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A message holds something tracedeck's requests cannot express.
    #[error("`{at}`: {what} is not supported by tracedeck's model requests")]
    Unsupported {
        /// Where, as a path into the body.
        at: String,
        /// What was found.
        what: String,
    },
}

pub(crate) fn invalid(at: impl Into<String>, expected: &'static str) -> RequestDecodeError {
    RequestDecodeError::Invalid {
        at: at.into(),
        expected,
    }
}

pub(crate) fn unsupported(at: impl Into<String>, what: impl Into<String>) -> RequestDecodeError {
    RequestDecodeError::Unsupported {
        at: at.into(),
        what: what.into(),
    }
}

/// Reads a Chat Completions request body (`POST /v1/chat/completions`).
///
/// ```
/// use tracedeck::providers::openai_chat::decode_chat_request;
/// let body = br#"{"model":"gpt-4o-mini","stream":true,
///     "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}"#;
/// let chat = decode_chat_request(body).unwrap();
/// assert!(chat.stream);
/// assert_eq!(chat.request.system.as_deref(), Some("Be brief."));
/// assert_eq!(chat.request.messages[0].text_content(), "Hi");
/// ```
pub fn decode_chat_request(body: &[u8]) -> Result<ChatRequest, RequestDecodeError> {
    decode_body(json_object(body)?)
}

/// A request body as the JSON object every OpenAI API sends.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, RequestDecodeError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| RequestDecodeError::NotJson {
        message: e.to_string(),
    })?;
    match value {
        Value::Object(body) => Ok(body),
        _ => Err(invalid("$", "a JSON object")),
    }
}

/// Takes `model` (required) and `stream` (optional) out of `body`, as both
/// OpenAI APIs name them: the request of that model, and whether it streams.
pub(crate) fn model_and_stream(
    body: &mut Map<String, Value>,
) -> Result<(ModelRequest, bool), RequestDecodeError> {
    let mut req = ModelRequest::default();
    match body.remove("model") {
        Some(Value::String(model)) => req.model = model,
        _ => return Err(invalid("model", "a string")),
    }
    let stream = match body.remove("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(invalid("stream", "a boolean")),
    };
    Ok((req, stream))
}

fn decode_body(mut body: Map<String, Value>) -> Result<ChatRequest, RequestDecodeError> {
    let (mut req, stream) = model_and_stream(&mut body)?;
    match body.remove("messages") {
        Some(Value::Array(messages)) => decode_messages(messages, &mut req)?,
        _ => return Err(invalid("messages", "an array")),
    }
    let mut extra = Map::new();
    for (key, value) in body {
        if !decode_field(&key, &value, &mut req) {
            extra.insert(key, value);
        }
    }
    req.extra.extend(extra);
    Ok(ChatRequest {
        request: req,
        stream,
    })
}

/// Maps one top-level field into `req`; false when it has no exact place
/// there (the caller keeps it in `extra`).
fn decode_field(key: &str, value: &Value, req: &mut ModelRequest) -> bool {
    let settings = &mut req.settings;
    match key {
        "temperature" => value
            .as_f64()
            .map(|t| settings.temperature = Some(t))
            .is_some(),
        "top_p" => value.as_f64().map(|p| settings.top_p = Some(p)).is_some(),
        "max_completion_tokens" => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(|n| settings.max_tokens = Some(n))
            .is_some(),
        "seed" => value.as_u64().map(|s| settings.seed = Some(s)).is_some(),
        "stop" => match value {
            Value::String(s) => {
                settings.stop = vec![s.clone()];
                true
            }
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
                settings.stop = items
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect();
                true
            }
            _ => false,
        },
        "tool_choice" => tool_choice(value)
            .map(|c| settings.tool_choice = Some(c))
            .is_some(),
        "response_format" => response_format(value)
            .map(|f| settings.response_format = Some(f))
            .is_some(),
        "tools" => tools(value).map(|t| req.tools = t).is_some(),
        "stream_options" => match value {
            // Streams always ask for usage; anything else is the client's.
            Value::Object(options) => {
                let mut rest = options.clone();
                rest.remove("include_usage");
                if !rest.is_empty() {
                    req.extra
                        .insert("stream_options".into(), Value::Object(rest));
                }
                true
            }
            Value::Null => true,
            _ => false,
        },
        _ => false,
    }
}

fn tool_choice(value: &Value) -> Option<ToolChoice> {
    match value {
        Value::String(mode) => match mode.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => None,
        },
        Value::Object(choice) if choice.len() == 2 && choice.get("type")? == "function" => {
            let function = choice.get("function")?.as_object()?;
            if function.len() != 1 {
                return None;
            }
            Some(ToolChoice::Tool {
                name: function.get("name")?.as_str()?.to_owned(),
            })
        }
        _ => None,
    }
}

fn response_format(value: &Value) -> Option<ResponseFormat> {
    let format = value.as_object()?;
    match (format.get("type")?.as_str()?, format.len()) {
        ("text", 1) => Some(ResponseFormat::Text),
        ("json_object", 1) => Some(ResponseFormat::Json),
        ("json_schema", 2) => json_schema_format(format.get("json_schema")?.as_object()?, &[]),
        _ => None,
    }
}

/// The fields of a `json_schema` response format (`name`, `schema`, an
/// optional `strict`) as they sit in `spec`, where `beside` names the other
/// keys `spec` may hold (the Responses API puts `"type"` there). Any other
/// key, or a field of the wrong type, is `None`: the whole format is then
/// kept as it came, in `extra`.
pub(crate) fn json_schema_format(
    spec: &Map<String, Value>,
    beside: &[&str],
) -> Option<ResponseFormat> {
    if spec.keys().any(|k| {
        !matches!(k.as_str(), "name" | "schema" | "strict") && !beside.contains(&k.as_str())
    }) {
        return None;
    }
    Some(ResponseFormat::JsonSchema {
        name: spec.get("name")?.as_str()?.to_owned(),
        schema: spec.get("schema")?.clone(),
        strict: match spec.get("strict") {
            None | Some(Value::Null) => false,
            Some(strict) => strict.as_bool()?,
        },
    })
}

/// Function tools of a name, an optional description and a schema; any
/// other shape is kept whole in `extra`.
fn tools(value: &Value) -> Option<Vec<ToolDefinition>> {
    value
        .as_array()?
        .iter()
        .map(|tool| {
            let tool = tool.as_object()?;
            if tool.len() != 2 || tool.get("type")? != "function" {
                return None;
            }
            let function = tool.get("function")?.as_object()?;
            if function
                .keys()
                .any(|k| !matches!(k.as_str(), "name" | "description" | "parameters"))
            {
                return None;
            }
            Some(ToolDefinition {
                name: function.get("name")?.as_str()?.to_owned(),
                description: match function.get("description") {
                    None => None,
                    Some(d) => Some(d.as_str()?.to_owned()),
                },
                parameters: function.get("parameters")?.clone(),
            })
        })
        .collect()
}

fn decode_messages(messages: Vec<Value>, req: &mut ModelRequest) -> Result<(), RequestDecodeError> {
    for (index, message) in messages.into_iter().enumerate() {
        let at = format!("messages[{index}]");
        let Value::Object(mut message) = message else {
            return Err(invalid(at, "an object"));
        };
        let role = match message.remove("role") {
            Some(Value::String(role)) => role,
            _ => return Err(invalid(format!("{at}.role"), "a string")),
        };
        let content = message.remove("content").unwrap_or(Value::Null);
        let decoded = match role.as_str() {
            "system" | "developer" => {
                let text = plain_text(&content, &format!("{at}.content"))?;
                // The leading instructions are the request's system prompt.
                if index == 0 && role == "system" {
                    req.system = Some(text);
                    None
                } else {
                    Some(Message::text(Role::System, text))
                }
            }
            "user" => Some(Message {
                role: Role::User,
                content: user_content(content, &format!("{at}.content"))?,
            }),
            "assistant" => Some(assistant(content, message.remove("tool_calls"), &at)?),
            "tool" => {
                let call_id = match message.remove("tool_call_id") {
                    Some(Value::String(id)) => id,
                    _ => return Err(invalid(format!("{at}.tool_call_id"), "a string")),
                };
                Some(Message {
                    role: Role::Tool,
                    content: vec![ContentPart::ToolResult {
                        call_id,
                        content: plain_text(&content, &format!("{at}.content"))?,
                        is_error: false,
                    }],
                })
            }
            other => return Err(unsupported(format!("{at}.role"), format!("role `{other}`"))),
        };
        // `refusal: null` and the like carry nothing.
        message.retain(|_, v| !v.is_null());
        if let Some(field) = message.keys().next() {
            return Err(unsupported(
                format!("{at}.{field}"),
                format!("field `{field}`"),
            ));
        }
        if let Some(decoded) = decoded {
            req.messages.push(decoded);
        }
    }
    Ok(())
}

/// Text content: a string, or an array of text parts (joined).
fn plain_text(content: &Value, at: &str) -> Result<String, RequestDecodeError> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(
                        part.get("text")
                            .and_then(Value::as_str)
                            .ok_or_else(|| invalid(format!("{at}[{i}].text"), "a string"))?,
                    ),
                    _ => {
                        return Err(unsupported(
                            format!("{at}[{i}]"),
                            "a content part other than text",
                        ));
                    }
                }
            }
            Ok(text)
        }
        _ => Err(invalid(at, "a string or an array of text parts")),
    }
}

fn user_content(content: Value, at: &str) -> Result<Vec<ContentPart>, RequestDecodeError> {
    match content {
        Value::String(text) => Ok(vec![ContentPart::Text { text }]),
        Value::Array(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let at = format!("{at}[{i}]");
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => Ok(ContentPart::text(
                        part.get("text")
                            .and_then(Value::as_str)
                            .ok_or_else(|| invalid(format!("{at}.text"), "a string"))?,
                    )),
                    Some("image_url") => {
                        let image = part.get("image_url").and_then(Value::as_object);
                        let url = image
                            .and_then(|i| i.get("url"))
                            .and_then(Value::as_str)
                            .ok_or_else(|| invalid(format!("{at}.image_url.url"), "a string"))?;
                        if image.is_some_and(|i| i.len() > 1) {
                            return Err(unsupported(
                                format!("{at}.image_url"),
                                "an image option beside `url` (such as `detail`)",
                            ));
                        }
                        Ok(ContentPart::Image {
                            source: image_source(url),
                        })
                    }
                    Some(kind) => Err(unsupported(at, format!("a `{kind}` content part"))),
                    None => Err(invalid(format!("{at}.type"), "a string")),
                }
            })
            .collect(),
        _ => Err(invalid(at, "a string or an array of content parts")),
    }
}

/// A URL, or the media type and data of a `data:<type>;base64,<data>` URL.
pub(crate) fn image_source(url: &str) -> ImageSource {
    url.strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .map(|(media_type, data)| ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        })
        .unwrap_or_else(|| ImageSource::Url {
            url: url.to_owned(),
        })
}

fn assistant(
    content: Value,
    tool_calls: Option<Value>,
    at: &str,
) -> Result<Message, RequestDecodeError> {
    let mut parts = Vec::new();
    let calls = match tool_calls {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(invalid(format!("{at}.tool_calls"), "an array")),
    };
    match content {
        // Only tool calls: the adapter sends `null`.
        Value::Null => {}
        Value::String(text) if text.is_empty() && !calls.is_empty() => {}
        content => parts.push(ContentPart::Text {
            text: plain_text(&content, &format!("{at}.content"))?,
        }),
    }
    for (i, call) in calls.into_iter().enumerate() {
        let at = format!("{at}.tool_calls[{i}]");
        let id = call.get("id").and_then(Value::as_str);
        let function = call.get("function");
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
        let arguments = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str);
        let (Some(id), Some(name), Some(arguments)) = (id, name, arguments) else {
            return Err(invalid(
                at,
                "a function call with an id, a name and arguments",
            ));
        };
        parts.push(ContentPart::ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            // Arguments that are not JSON are kept as their text, as the
            // accumulator keeps them; the adapter sends them back as they are.
            arguments: serde_json::from_str(arguments)
                .unwrap_or_else(|_| Value::String(arguments.to_owned())),
        });
    }
    Ok(Message {
        role: Role::Assistant,
        content: parts,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decode(body: Value) -> Result<ChatRequest, RequestDecodeError> {
        decode_chat_request(body.to_string().as_bytes())
    }

    /// A body the adapter writes, with every mapped field.
    fn full_body() -> Value {
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
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
                {"role": "assistant", "content": "A cat."},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
            ],
            "tools": [{"type": "function", "function": {"name": "look", "description": "Looks closer", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
            "temperature": 0.5,
            "top_p": 0.9,
            "max_completion_tokens": 64,
            "stop": ["END"],
            "seed": 7,
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": true}},
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "u-1"
        })
    }

    #[test]
    fn every_mapped_field_lands_in_its_place() {
        let chat = decode(full_body()).unwrap();
        assert!(chat.stream);
        let req = chat.request;
        assert_eq!(req.model, "gpt-4o-mini");
        assert_eq!(req.system.as_deref(), Some("Be brief."));
        assert_eq!(req.messages.len(), 5);
        assert_eq!(
            req.messages[0].content[1],
            ContentPart::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "AAAA".into()
                }
            }
        );
        assert_eq!(
            req.messages[1].content,
            [ContentPart::ToolCall {
                id: "call_1".into(),
                name: "look".into(),
                arguments: json!({"zoom": 2})
            }]
        );
        assert_eq!(req.messages[2], Message::tool_result("call_1", "a cat"));
        assert_eq!(req.messages[3], Message::assistant("A cat."));
        assert_eq!(req.tools[0].name, "look");
        assert_eq!(req.settings.max_tokens, Some(64));
        assert_eq!(req.settings.seed, Some(7));
        assert_eq!(req.settings.stop, ["END"]);
        assert_eq!(
            req.settings.tool_choice,
            Some(ToolChoice::Tool {
                name: "look".into()
            })
        );
        assert!(matches!(
            req.settings.response_format,
            Some(ResponseFormat::JsonSchema { strict: true, .. })
        ));
        assert_eq!(Value::Object(req.extra), json!({"user": "u-1"}));
    }

    /// Contract: what the adapter would send for the decoded request is the
    /// body the client sent.
    #[cfg(feature = "http")]
    #[test]
    fn encoding_the_decoded_request_gives_the_body_back() {
        use super::super::request::{MaxTokensField, chat_body};
        let bodies = [
            full_body(),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "tool_choice": "required", "response_format": {"type": "json_object"},
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {}, "strict": true}}],
                "max_tokens": 9, "n": 2, "seed": -1, "logprobs": true,
                "stream": true, "stream_options": {"include_usage": true, "include_obfuscation": false}}),
            json!({"model": "m", "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "not json"}}]},
                {"role": "tool", "tool_call_id": "c", "content": "r"},
                {"role": "system", "content": "later"}
            ]}),
        ];
        for body in bodies {
            let chat = decode(body.clone()).unwrap();
            let model = chat.request.model.clone();
            let again = chat_body(
                &chat.request,
                &model,
                MaxTokensField::MaxCompletionTokens,
                chat.stream,
            )
            .unwrap();
            assert_eq!(again, body);
            let decoded_again = decode(again).unwrap();
            assert_eq!(
                decoded_again, chat,
                "decode(encode(decode(b))) == decode(b)"
            );
        }
    }

    #[cfg(feature = "http")]
    #[test]
    fn a_request_the_adapter_encodes_decodes_back_to_itself() {
        use super::super::request::{MaxTokensField, chat_body};
        let req = ModelRequest::new("gpt-4o-mini")
            .system("Answer in one word.")
            .user("Capital of France?")
            .temperature(0.0)
            .max_tokens(16)
            .tool(ToolDefinition::new(
                "f",
                "does f",
                json!({"type": "object"}),
            ))
            .extra("metadata", json!({"a": "b"}));
        for stream in [false, true] {
            let body = chat_body(
                &req,
                "gpt-4o-mini",
                MaxTokensField::MaxCompletionTokens,
                stream,
            )
            .unwrap();
            let chat = decode(body).unwrap();
            assert_eq!(chat.request, req);
            assert_eq!(chat.stream, stream);
        }
    }

    #[test]
    fn bad_bodies_are_typed_errors_naming_the_place() {
        assert!(matches!(
            decode_chat_request(b"{not json"),
            Err(RequestDecodeError::NotJson { .. })
        ));
        let cases = [
            (json!([]), "`$` must be a JSON object"),
            (json!({"messages": []}), "`model` must be a string"),
            (json!({"model": "m"}), "`messages` must be an array"),
            (
                json!({"model": "m", "messages": [], "stream": "yes"}),
                "`stream` must be a boolean",
            ),
            (
                json!({"model": "m", "messages": [1]}),
                "`messages[0]` must be an object",
            ),
            (
                json!({"model": "m", "messages": [{"role": "critic", "content": "x"}]}),
                "`messages[0].role`: role `critic` is not supported",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x", "name": "bob"}]}),
                "`messages[0].name`: field `name` is not supported",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
                "`messages[0].content[0]`: a `input_audio` content part",
            ),
            (
                json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
                "`messages[0].tool_call_id` must be a string",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]}),
                "`messages[0].tool_calls[0]` must be a function call",
            ),
        ];
        for (body, expected) in cases {
            let err = decode(body.clone()).unwrap_err().to_string();
            assert!(err.contains(expected), "{body}: {err}");
        }
    }
}

//! The way back from a Responses API request body to a [`ModelRequest`]:
//! what a client of the protocol sent (async-openai's `responses()`, a
//! proxy's client), read as the request tracedeck records, matches and
//! replays.
//!
//! The mapping is the inverse of the
//! [`OpenAiResponses`](crate::providers::OpenAiResponses) adapter's:
//! `instructions` is the system prompt; `input` items are messages (a
//! `message` item a message of its role, `function_call` items tool calls of
//! the assistant message before them, each `function_call_output` a tool
//! message); `max_output_tokens`, `text.format`, function tools sent with
//! `strict: false` and `tool_choice` are settings. Fields the mapping has no
//! place for are kept verbatim in [`ModelRequest::extra`] (which the adapter
//! merges back into the body), so nothing a client sends about the call is
//! silently dropped; `stream` is the transport's
//! ([`ResponsesRequest::stream`]). Input items are the one place without a
//! fallback: an item the model boundary cannot hold (a reasoning item, a
//! file, an image option other than `detail: "auto"`) is a
//! [`RequestDecodeError`] naming it. The `id` and `status` of an output
//! item a client hands back as input (a `message` or `function_call` it
//! got from a response) are not kept: they name the earlier response's
//! item, not anything the model reads.

use serde_json::{Map, Value};

use crate::model::{
    ContentPart, Message, ModelRequest, ResponseFormat, Role, ToolChoice, ToolDefinition,
};
use crate::providers::openai_chat::{
    RequestDecodeError, image_source, invalid, json_object, json_schema_format, model_and_stream,
    unsupported,
};
use crate::providers::shared::wire::role_name;

/// A decoded Responses API request: the model request and whether the
/// client asked for a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesRequest {
    /// The request as tracedeck records it.
    pub request: ModelRequest,
    /// `stream: true` in the body.
    pub stream: bool,
}

/// Reads a Responses API request body (`POST /v1/responses`).
///
/// ```
/// use tracedeck::providers::openai_responses::decode_responses_request;
/// let body = br#"{"model":"gpt-5-mini","stream":true,"instructions":"Be brief.",
///     "input":[{"type":"message","role":"user","content":"Hi"}]}"#;
/// let responses = decode_responses_request(body).unwrap();
/// assert!(responses.stream);
/// assert_eq!(responses.request.system.as_deref(), Some("Be brief."));
/// assert_eq!(responses.request.messages[0].text_content(), "Hi");
/// ```
pub fn decode_responses_request(body: &[u8]) -> Result<ResponsesRequest, RequestDecodeError> {
    decode_body(json_object(body)?)
}

fn decode_body(mut body: Map<String, Value>) -> Result<ResponsesRequest, RequestDecodeError> {
    let (mut req, stream) = model_and_stream(&mut body)?;
    match body.remove("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(system)) => req.system = Some(system),
        Some(_) => return Err(invalid("instructions", "a string")),
    }
    match body.remove("input") {
        // A request that continues a stored conversation may send none.
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => req.messages.push(Message::user(text)),
        Some(Value::Array(items)) => decode_items(items, &mut req)?,
        Some(_) => return Err(invalid("input", "a string or an array of items")),
    }
    let mut extra = Map::new();
    for (key, value) in body {
        if !decode_field(&key, &value, &mut req, &mut extra) {
            extra.insert(key, value);
        }
    }
    req.extra.extend(extra);
    Ok(ResponsesRequest {
        request: req,
        stream,
    })
}

/// Maps one top-level field into `req`; false when it has no exact place
/// there (the caller keeps it in `extra`). What `text` holds beside a
/// mapped `format` goes to `extra` here.
fn decode_field(
    key: &str,
    value: &Value,
    req: &mut ModelRequest,
    extra: &mut Map<String, Value>,
) -> bool {
    let settings = &mut req.settings;
    match key {
        "temperature" => value
            .as_f64()
            .map(|t| settings.temperature = Some(t))
            .is_some(),
        "top_p" => value.as_f64().map(|p| settings.top_p = Some(p)).is_some(),
        "max_output_tokens" => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(|n| settings.max_tokens = Some(n))
            .is_some(),
        "tool_choice" => tool_choice(value)
            .map(|c| settings.tool_choice = Some(c))
            .is_some(),
        "tools" => tools(value).map(|t| req.tools = t).is_some(),
        "text" => {
            let Value::Object(text) = value else {
                return false;
            };
            let Some(format) = text.get("format").and_then(response_format) else {
                return false;
            };
            settings.response_format = Some(format);
            let mut rest = text.clone();
            rest.remove("format");
            if !rest.is_empty() {
                extra.insert("text".into(), Value::Object(rest));
            }
            true
        }
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
            Some(ToolChoice::Tool {
                name: choice.get("name")?.as_str()?.to_owned(),
            })
        }
        _ => None,
    }
}

/// `text.format`: the schema's fields sit beside `"type": "json_schema"`.
fn response_format(value: &Value) -> Option<ResponseFormat> {
    let format = value.as_object()?;
    match format.get("type")?.as_str()? {
        "text" if format.len() == 1 => Some(ResponseFormat::Text),
        "json_object" if format.len() == 1 => Some(ResponseFormat::Json),
        "json_schema" => json_schema_format(format, &["type"]),
        _ => None,
    }
}

/// Function tools as the adapter sends them: a name, an optional
/// description, a schema and `strict: false` (the API's default is strict
/// schemas, which a [`ToolDefinition`] does not ask for). Any other shape
/// is kept whole in `extra`.
fn tools(value: &Value) -> Option<Vec<ToolDefinition>> {
    value
        .as_array()?
        .iter()
        .map(|tool| {
            let tool = tool.as_object()?;
            if tool.get("type")? != "function" || tool.get("strict")? != false {
                return None;
            }
            if tool.keys().any(|k| {
                !matches!(
                    k.as_str(),
                    "type" | "name" | "description" | "parameters" | "strict"
                )
            }) {
                return None;
            }
            Some(ToolDefinition {
                name: tool.get("name")?.as_str()?.to_owned(),
                description: match tool.get("description") {
                    None => None,
                    Some(d) => Some(d.as_str()?.to_owned()),
                },
                parameters: tool.get("parameters")?.clone(),
            })
        })
        .collect()
}

/// An input item's fields, taken one by one; whatever is left at the end
/// (and not `null`) is a field the item cannot hold.
struct Item {
    at: String,
    fields: Map<String, Value>,
}

impl Item {
    fn string(&mut self, key: &str) -> Result<String, RequestDecodeError> {
        match self.fields.remove(key) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(invalid(format!("{}.{key}", self.at), "a string")),
        }
    }

    /// Drops the fields an output item handed back as input carries.
    fn drop_output_fields(&mut self) {
        self.fields.remove("id");
        self.fields.remove("status");
    }

    fn finish(mut self) -> Result<(), RequestDecodeError> {
        self.fields.retain(|_, v| !v.is_null());
        match self.fields.keys().next() {
            Some(field) => Err(unsupported(
                format!("{}.{field}", self.at),
                format!("field `{field}`"),
            )),
            None => Ok(()),
        }
    }
}

fn decode_items(items: Vec<Value>, req: &mut ModelRequest) -> Result<(), RequestDecodeError> {
    for (index, item) in items.into_iter().enumerate() {
        let at = format!("input[{index}]");
        let Value::Object(fields) = item else {
            return Err(invalid(at, "an object"));
        };
        let mut item = Item { at, fields };
        let kind = match item.fields.remove("type") {
            Some(Value::String(kind)) => kind,
            // An "easy" input message names only its role.
            None if item.fields.contains_key("role") => "message".to_owned(),
            _ => return Err(invalid(format!("{}.type", item.at), "a string")),
        };
        match kind.as_str() {
            "message" => req.messages.push(message(&mut item)?),
            "function_call" => {
                item.drop_output_fields();
                let id = item.string("call_id")?;
                let name = item.string("name")?;
                let arguments = item.string("arguments")?;
                let call = ContentPart::ToolCall {
                    id,
                    name,
                    // Arguments that are not JSON are kept as their text, as
                    // the accumulator keeps them; the adapter sends them back
                    // as they are.
                    arguments: serde_json::from_str(&arguments).unwrap_or(Value::String(arguments)),
                };
                // The calls after an assistant message are that message's
                // (the adapter writes its text first, then its calls).
                match req.messages.last_mut() {
                    Some(last) if last.role == Role::Assistant => last.content.push(call),
                    _ => req.messages.push(Message {
                        role: Role::Assistant,
                        content: vec![call],
                    }),
                }
            }
            "function_call_output" => {
                let call_id = item.string("call_id")?;
                let content = match item.fields.remove("output") {
                    Some(Value::String(output)) => output,
                    Some(Value::Array(_)) => {
                        return Err(unsupported(
                            format!("{}.output", item.at),
                            "a tool output of content parts",
                        ));
                    }
                    _ => return Err(invalid(format!("{}.output", item.at), "a string")),
                };
                req.messages.push(Message {
                    role: Role::Tool,
                    content: vec![ContentPart::ToolResult {
                        call_id,
                        content,
                        is_error: false,
                    }],
                });
            }
            other => {
                return Err(unsupported(
                    format!("{}.type", item.at),
                    format!("a `{other}` item"),
                ));
            }
        }
        item.finish()?;
    }
    Ok(())
}

/// A `message` item: its role and its content, a string or content parts.
fn message(item: &mut Item) -> Result<Message, RequestDecodeError> {
    let role = match item.string("role")?.as_str() {
        "user" => Role::User,
        // Developer instructions are system instructions to the model.
        "system" | "developer" => Role::System,
        "assistant" => {
            item.drop_output_fields();
            Role::Assistant
        }
        other => {
            return Err(unsupported(
                format!("{}.role", item.at),
                format!("role `{other}`"),
            ));
        }
    };
    let at = format!("{}.content", item.at);
    let content = match item.fields.remove("content") {
        Some(Value::String(text)) => vec![ContentPart::Text { text }],
        Some(Value::Array(parts)) => parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| content_part(part, role, &format!("{at}[{i}]")))
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid(at, "a string or an array of content parts")),
    };
    Ok(Message { role, content })
}

/// One content part of a message of `role`: text (`output_text` from the
/// assistant, `input_text` from the others) or, from the user, an image.
fn content_part(part: Value, role: Role, at: &str) -> Result<ContentPart, RequestDecodeError> {
    let Value::Object(fields) = part else {
        return Err(invalid(at, "an object"));
    };
    let mut part = Item {
        at: at.to_owned(),
        fields,
    };
    let kind = part.string("type")?;
    let text_kind = if role == Role::Assistant {
        "output_text"
    } else {
        "input_text"
    };
    let decoded = match kind.as_str() {
        k if k == text_kind => {
            if role == Role::Assistant {
                // An output text handed back from a response: no annotations.
                if part.fields.get("annotations").and_then(Value::as_array) == Some(&Vec::new()) {
                    part.fields.remove("annotations");
                }
            }
            ContentPart::Text {
                text: part.string("text")?,
            }
        }
        "input_image" if role == Role::User => {
            // `auto` is the API's default detail: the same request as none.
            if part.fields.get("detail").and_then(Value::as_str) == Some("auto") {
                part.fields.remove("detail");
            }
            ContentPart::Image {
                source: image_source(&part.string("image_url")?),
            }
        }
        other => {
            return Err(unsupported(
                at,
                format!("a `{other}` content part in a {} message", role_name(role)),
            ));
        }
    };
    part.finish()?;
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::ImageSource;

    fn decode(body: Value) -> Result<ResponsesRequest, RequestDecodeError> {
        decode_responses_request(body.to_string().as_bytes())
    }

    /// A body the adapter writes, with every mapped field.
    fn full_body() -> Value {
        json!({
            "model": "gpt-5-mini",
            "instructions": "Use tools.",
            "input": [
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "Weather here?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}
                ]},
                {"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Looking."}
                ]},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "not json"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                {"type": "function_call_output", "call_id": "call_2", "output": "rain"},
                {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "later"}]}
            ],
            "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                       "parameters": {"type": "object"}, "strict": false}],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "temperature": 0.5,
            "top_p": 0.9,
            "max_output_tokens": 100,
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true},
                     "verbosity": "low"},
            "stream": true,
            "store": false
        })
    }

    #[test]
    fn every_mapped_field_lands_in_its_place() {
        let decoded = decode(full_body()).unwrap();
        assert!(decoded.stream);
        let req = decoded.request;
        assert_eq!(req.system.as_deref(), Some("Use tools."));
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
        assert_eq!(req.messages[1].role, Role::Assistant);
        assert_eq!(
            req.messages[1].content,
            [
                ContentPart::text("Looking."),
                ContentPart::ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: json!({"city": "Paris"})
                },
                ContentPart::ToolCall {
                    id: "call_2".into(),
                    name: "get_weather".into(),
                    arguments: json!("not json")
                }
            ]
        );
        assert_eq!(req.messages[2], Message::tool_result("call_1", "sunny"));
        assert_eq!(req.messages[3], Message::tool_result("call_2", "rain"));
        assert_eq!(req.messages[4], Message::text(Role::System, "later"));
        assert_eq!(req.tools[0].description.as_deref(), Some("Weather"));
        assert_eq!(
            req.settings.tool_choice,
            Some(ToolChoice::Tool {
                name: "get_weather".into()
            })
        );
        assert_eq!(req.settings.max_tokens, Some(100));
        assert!(matches!(
            req.settings.response_format,
            Some(ResponseFormat::JsonSchema { strict: true, .. })
        ));
        assert_eq!(
            Value::Object(req.extra),
            json!({"store": false, "text": {"verbosity": "low"}})
        );
    }

    #[test]
    fn the_shapes_other_clients_send_read_as_the_same_request() {
        // A bare string input, an "easy" message without `type`, string
        // content, an image with the default detail, and output items
        // handed back from a response with their ids and statuses.
        let decoded = decode(json!({
            "model": "m",
            "input": [
                {"role": "user", "content": "Hi"},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}]},
                {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Hello", "annotations": []}]},
                {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "c",
                 "name": "f", "arguments": "{}"}
            ]
        }))
        .unwrap();
        let req = decoded.request;
        assert_eq!(req.messages[0], Message::user("Hi"));
        assert_eq!(
            req.messages[1].content,
            [ContentPart::Image {
                source: ImageSource::Url {
                    url: "https://x/y.png".into()
                }
            }]
        );
        assert_eq!(req.messages[2].content.len(), 2, "text and its call");
        let plain = decode(json!({"model": "m", "input": "Hi"})).unwrap();
        assert_eq!(plain.request.messages, [Message::user("Hi")]);
        assert!(!plain.stream);
    }

    #[test]
    fn shapes_the_mapping_does_not_write_stay_in_extra() {
        let decoded = decode(json!({
            "model": "m", "input": [],
            "tools": [{"type": "function", "name": "f", "parameters": {}}],
            "tool_choice": {"type": "web_search"},
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {}, "description": "d"}},
            "seed": 1
        }))
        .unwrap();
        let req = decoded.request;
        assert!(
            req.tools.is_empty(),
            "a strict tool is not a ToolDefinition"
        );
        assert_eq!(req.settings.tool_choice, None);
        assert_eq!(req.settings.response_format, None);
        assert_eq!(req.settings.seed, None);
        let mut keys: Vec<&str> = req.extra.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["seed", "text", "tool_choice", "tools"]);
    }

    #[test]
    fn bad_bodies_are_typed_errors_naming_the_place() {
        assert!(matches!(
            decode_responses_request(b"{not json"),
            Err(RequestDecodeError::NotJson { .. })
        ));
        let cases = [
            (json!([]), "`$` must be a JSON object"),
            (json!({"input": []}), "`model` must be a string"),
            (
                json!({"model": "m", "input": 3}),
                "`input` must be a string or an array",
            ),
            (
                json!({"model": "m", "stream": 1}),
                "`stream` must be a boolean",
            ),
            (
                json!({"model": "m", "instructions": []}),
                "`instructions` must be a string",
            ),
            (
                json!({"model": "m", "input": [1]}),
                "`input[0]` must be an object",
            ),
            (
                json!({"model": "m", "input": [{"content": "x"}]}),
                "`input[0].type` must be a string",
            ),
            (
                json!({"model": "m", "input": [{"type": "reasoning", "summary": []}]}),
                "`input[0].type`: a `reasoning` item is not supported",
            ),
            (
                json!({"model": "m", "input": [{"type": "message", "role": "critic", "content": "x"}]}),
                "`input[0].role`: role `critic`",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
                "`input[0].content[0]`: a `input_file` content part in a user message",
            ),
            (
                json!({"model": "m", "input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "u"}]}]}),
                "a `input_image` content part in a assistant message",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u", "detail": "high"}]}]}),
                "`input[0].content[0].detail`: field `detail`",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": "x", "name": "bob"}]}),
                "`input[0].name`: field `name`",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
                "`input[0].call_id` must be a string",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_text", "text": "x"}]}]}),
                "`input[0].output`: a tool output of content parts",
            ),
        ];
        for (body, expected) in cases {
            let err = decode(body.clone()).unwrap_err().to_string();
            assert!(err.contains(expected), "{body}: {err}");
        }
    }

    /// The adapter's mapping and this decoder, against each other.
    #[cfg(feature = "http")]
    mod round_trip {
        use proptest::prelude::*;

        use super::super::super::request::responses_body;
        use super::*;

        #[test]
        fn encoding_the_decoded_body_gives_the_body_back() {
            let body = full_body();
            let decoded = decode(body.clone()).unwrap();
            let again = responses_body(&decoded.request, "gpt-5-mini", decoded.stream).unwrap();
            assert_eq!(again, body);
        }

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![Just(String::new()), "[a-zA-Z0-9 .,!?é\"\\\\{}]{1,12}"]
        }

        fn non_empty_text() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9 .,!?é\"{}]{1,12}"
        }

        fn image() -> impl Strategy<Value = ContentPart> {
            prop_oneof![
                "[a-z]{1,8}".prop_map(|p| ImageSource::Url {
                    url: format!("https://example.com/{p}.png")
                }),
                "[A-Za-z0-9+/]{4,12}".prop_map(|data| ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data
                }),
            ]
            .prop_map(|source| ContentPart::Image { source })
        }

        fn call() -> impl Strategy<Value = ContentPart> {
            (
                "call_[a-z0-9]{1,6}",
                "[a-z_]{1,8}",
                prop::collection::btree_map("[a-z]{1,4}", any::<i32>(), 0..3),
            )
                .prop_map(|(id, name, args)| ContentPart::ToolCall {
                    id,
                    name,
                    arguments: serde_json::to_value(args).unwrap(),
                })
        }

        /// One message in the shape the mapping writes back exactly (see
        /// the module docs: what an assistant turn holds, one result per
        /// tool message).
        fn message() -> impl Strategy<Value = Message> {
            let user = prop::collection::vec(
                prop_oneof![text().prop_map(ContentPart::text), image()],
                0..3,
            )
            .prop_map(|content| Message {
                role: Role::User,
                content,
            });
            let system = prop::collection::vec(text().prop_map(ContentPart::text), 0..3).prop_map(
                |content| Message {
                    role: Role::System,
                    content,
                },
            );
            // Text (with at least one non-empty part), then any calls; or
            // calls only.
            let assistant = (
                prop::collection::vec(text(), 0..2),
                non_empty_text(),
                prop::collection::vec(call(), 0..3),
            )
                .prop_map(|(texts, last, calls)| Message {
                    role: Role::Assistant,
                    content: texts
                        .into_iter()
                        .chain([last])
                        .map(ContentPart::text)
                        .chain(calls)
                        .collect(),
                });
            let calls_only = prop::collection::vec(call(), 1..3).prop_map(|content| Message {
                role: Role::Assistant,
                content,
            });
            let tool = ("call_[a-z0-9]{1,6}", text())
                .prop_map(|(id, output)| Message::tool_result(id, output));
            prop_oneof![user, system, assistant, calls_only, tool]
        }

        /// Messages where calls-only assistant turns never follow an
        /// assistant turn (the decoder reads them as that turn's calls).
        fn messages() -> impl Strategy<Value = Vec<Message>> {
            prop::collection::vec(message(), 0..6).prop_map(|messages| {
                let mut kept: Vec<Message> = Vec::new();
                for message in messages {
                    let calls_only = message.role == Role::Assistant
                        && message
                            .content
                            .iter()
                            .all(|p| matches!(p, ContentPart::ToolCall { .. }));
                    if calls_only && kept.last().is_some_and(|m| m.role == Role::Assistant) {
                        continue;
                    }
                    kept.push(message);
                }
                kept
            })
        }

        fn tool() -> impl Strategy<Value = ToolDefinition> {
            ("[a-z_]{1,8}", prop::option::of(text())).prop_map(|(name, description)| {
                ToolDefinition {
                    name,
                    description,
                    parameters: json!({"type": "object", "properties": {}}),
                }
            })
        }

        fn tool_choice() -> impl Strategy<Value = ToolChoice> {
            prop_oneof![
                Just(ToolChoice::Auto),
                Just(ToolChoice::None),
                Just(ToolChoice::Required),
                "[a-z_]{1,8}".prop_map(|name| ToolChoice::Tool { name }),
            ]
        }

        fn response_format() -> impl Strategy<Value = ResponseFormat> {
            prop_oneof![
                Just(ResponseFormat::Text),
                Just(ResponseFormat::Json),
                ("[a-z]{1,6}", any::<bool>()).prop_map(|(name, strict)| {
                    ResponseFormat::JsonSchema {
                        name,
                        schema: json!({"type": "object"}),
                        strict,
                    }
                }),
            ]
        }

        /// Provider fields the mapping has no place for.
        fn extra() -> impl Strategy<Value = Map<String, Value>> {
            prop::collection::btree_map(
                prop_oneof![
                    Just("store"),
                    Just("user"),
                    Just("previous_response_id"),
                    Just("parallel_tool_calls"),
                    Just("metadata"),
                ],
                prop_oneof![
                    any::<bool>().prop_map(Value::from),
                    "[a-z]{0,6}".prop_map(Value::from),
                    Just(json!({"k": "v"})),
                ],
                0..3,
            )
            .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        }

        prop_compose! {
            fn request()(
                model in "[a-z0-9.-]{1,12}",
                system in prop::option::of(text()),
                messages in messages(),
                tools in prop::collection::vec(tool(), 0..3),
                temperature in prop::option::of(0.0f64..2.0),
                top_p in prop::option::of(0.0f64..1.0),
                max_tokens in prop::option::of(any::<u32>()),
                tool_choice in prop::option::of(tool_choice()),
                response_format in prop::option::of(response_format()),
                verbosity in prop::option::of(Just(json!({"verbosity": "low"}))),
                mut extra in extra(),
            ) -> ModelRequest {
                let mut req = ModelRequest::new(model);
                req.system = system;
                req.messages = messages;
                req.tools = tools;
                req.settings.temperature = temperature;
                req.settings.top_p = top_p;
                req.settings.max_tokens = max_tokens;
                req.settings.tool_choice = tool_choice;
                req.settings.response_format = response_format;
                if let Some(text) = verbosity {
                    extra.insert("text".into(), text);
                }
                req.extra = extra;
                req
            }
        }

        proptest! {
            /// Contract: the adapter's request, decoded from the body it
            /// sends, is the request.
            #[test]
            fn a_request_the_adapter_maps_decodes_back_to_itself(
                req in request(),
                stream in any::<bool>(),
            ) {
                let body = responses_body(&req, &req.model, stream).unwrap();
                let decoded = decode_responses_request(body.to_string().as_bytes()).unwrap();
                prop_assert_eq!(&decoded.request, &req, "{}", body);
                prop_assert_eq!(decoded.stream, stream);
            }
        }
    }
}

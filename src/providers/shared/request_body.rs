//! What every API's request body has in common: the sampling fields under
//! the same names, function tools as a name, a description and a schema,
//! `stream: true` when streaming, and the request's `extra` merged last.

use serde_json::{Map, Value, json};

use crate::model::{Settings, ToolDefinition};

/// Sets `temperature` and `top_p`, which all three APIs name alike, when the
/// request sets them.
pub(crate) fn insert_sampling(body: &mut Map<String, Value>, settings: &Settings) {
    if let Some(t) = settings.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = settings.top_p {
        body.insert("top_p".into(), json!(p));
    }
}

/// Sets `tools`, each written by `tool`, when the request has any.
pub(crate) fn insert_tools(
    body: &mut Map<String, Value>,
    tools: &[ToolDefinition],
    tool: impl Fn(&ToolDefinition) -> Value,
) {
    if !tools.is_empty() {
        body.insert("tools".into(), tools.iter().map(tool).collect());
    }
}

/// A tool's `name`, `description` (when it has one) and its parameter schema
/// under `schema_field`: the fields every API's function tool holds, whatever
/// it wraps them in.
pub(crate) fn tool_fields(tool: &ToolDefinition, schema_field: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        fields.insert("description".into(), json!(description));
    }
    fields.insert(schema_field.into(), tool.parameters.clone());
    fields
}

/// The body as sent: `stream: true` when streaming, then the request's
/// `extra` merged in last.
pub(crate) fn finish_body(
    mut body: Map<String, Value>,
    stream: bool,
    extra: &Map<String, Value>,
) -> Value {
    if stream {
        body.insert("stream".into(), json!(true));
    }
    merge_extra(&mut body, extra);
    Value::Object(body)
}

/// Merges a request's `extra` into a wire body: objects merge key by key,
/// recursively, anything else replaces what the mapping put there. `stream`
/// is left alone: it follows the method called.
pub(crate) fn merge_extra(body: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        if key == "stream" {
            continue;
        }
        merge_value(body, key, value);
    }
}

fn merge_value(target: &mut Map<String, Value>, key: &str, value: &Value) {
    match (target.get_mut(key), value) {
        (Some(Value::Object(existing)), Value::Object(incoming)) => {
            for (k, v) in incoming {
                merge_value(existing, k, v);
            }
        }
        _ => {
            target.insert(key.to_owned(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_merges_objects_deeply_and_never_touches_stream() {
        let mut body = json!({"stream": true, "text": {"format": {"type": "json_object"}}, "n": 1})
            .as_object()
            .cloned()
            .unwrap();
        let extra = json!({"stream": false, "text": {"verbosity": "low"}, "n": 2, "store": false});
        merge_extra(&mut body, extra.as_object().unwrap());
        assert_eq!(
            Value::Object(body),
            json!({"stream": true, "text": {"format": {"type": "json_object"}, "verbosity": "low"}, "n": 2, "store": false})
        );
    }

    #[test]
    fn a_tool_without_a_description_has_no_description_field() {
        let mut tool = ToolDefinition::new("f", "unused", json!({"type": "object"}));
        tool.description = None;
        assert_eq!(
            Value::Object(tool_fields(&tool, "input_schema")),
            json!({"name": "f", "input_schema": {"type": "object"}})
        );
    }
}

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::JsonError;

/// The canonical JSON text of `value`: object keys sorted by their UTF-8
/// bytes at every depth, pretty-printed with two-space indentation
/// (serde_json's pretty format), ending in one `"\n"`.
///
/// Equal values always give equal bytes, whatever order their maps were
/// built in, so the text can be hashed. Keys are sorted here, explicitly:
/// the result does not depend on how serde_json's map type is configured.
///
/// ```
/// use serde_json::json;
/// let bytes = tracedeck::json::canonical_json(&json!({"b": 1, "a": [true, null]})).unwrap();
/// assert_eq!(
///     String::from_utf8(bytes).unwrap(),
///     "{\n  \"a\": [\n    true,\n    null\n  ],\n  \"b\": 1\n}\n"
/// );
/// ```
///
/// # Errors
/// [`JsonError::Serialize`] when `value` does not serialize to JSON
/// (a map with non-string keys, say).
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JsonError> {
    let serialize = |e| JsonError::Serialize {
        source: std::sync::Arc::new(e),
    };
    let value = serde_json::to_value(value).map_err(serialize)?;
    let mut out = Vec::with_capacity(256);
    serde_json::to_writer_pretty(&mut out, &Sorted(&value)).map_err(serialize)?;
    out.push(b'\n');
    Ok(out)
}

/// The sha256 of `bytes`, as 64 lowercase hex digits.
///
/// ```
/// assert_eq!(
///     tracedeck::json::sha256_hex(b""),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Serializes a JSON value with every object's keys in sorted order.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                // Keys of one map are unique, so an unstable sort is deterministic.
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Sorted(value))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Sorted)),
            scalar => scalar.serialize(serializer),
        }
    }
}

/// The deepest nesting of arrays and objects a span's `input` or `output`
/// may have to be stored: `[]` and `{}` are 1 level, a scalar 0.
///
/// serde_json reads at most 128 levels, and a cassette wraps each span's
/// values in 4 more (`{"trace": {"spans": [{"input": ...`), so a limit of 100
/// keeps every cassette readable with room to spare. Deeper values are
/// refused when written ([`CassetteError::TooDeep`](crate::cassette::CassetteError::TooDeep)), and
/// [`with_span`](crate::with_span) stops serializing an input or output at
/// this depth: nothing deeper is ever built, hashed, written or dropped by
/// tracedeck, so no depth can exhaust a thread's stack.
pub const MAX_JSON_DEPTH: usize = 100;

/// How deeply `value` nests arrays and objects (a scalar is 0, `[]` is 1),
/// measured without recursion, so any depth is safe to measure.
///
/// ```
/// use serde_json::json;
/// assert_eq!(tracedeck::cassette::json_depth(&json!(1)), 0);
/// assert_eq!(tracedeck::cassette::json_depth(&json!({"a": [[], 2]})), 3);
/// ```
pub fn json_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, above)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        let depth = above + 1;
        deepest = deepest.max(depth);
        stack.extend(children.map(|child| (child, depth)));
    }
    deepest
}

/// Drops `value` without recursion.
///
/// serde_json's `Value` drops its children recursively, so dropping a value
/// nested some thousands of levels deep overflows a thread's stack. This
/// takes the tree apart one container at a time instead.
///
/// ```
/// let mut deep = serde_json::json!(0);
/// for _ in 0..100_000 {
///     deep = serde_json::Value::Array(vec![deep]);
/// }
/// tracedeck::cassette::drop_json(deep); // a plain `drop` would overflow the stack
/// ```
pub fn drop_json(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Serializes `value` into a JSON tree at most `limit` levels deep (as
/// [`json_depth`] counts them), or `None` when it nests deeper.
///
/// A first pass writes `value` as compact JSON text into a writer that
/// keeps nothing but counts brackets, and fails as soon as the nesting goes
/// past `limit`; the serializer unwinds right there, so a value of any depth
/// (a user type whose `Serialize` recurses, a deep `Value`) costs at most
/// `limit` levels of stack. Only a value within the limit is then turned
/// into a tree, by `serde_json::to_value`, exactly as before.
pub(crate) fn to_value_within<T: Serialize + ?Sized>(
    value: &T,
    limit: usize,
) -> Result<Option<Value>, serde_json::Error> {
    let mut counter = DepthBounded {
        limit,
        depth: 0,
        in_string: false,
        escaped: false,
        too_deep: false,
    };
    match serde_json::to_writer(&mut counter, value) {
        Err(_) if counter.too_deep => Ok(None),
        // Any other failure is reported as `to_value` reports it.
        _ => serde_json::to_value(value).map(|v| Some(sorted_keys(v))),
    }
}

/// Whether serde_json's maps keep insertion order: its `preserve_order`
/// feature, which any crate in the build may turn on (rig-core does).
fn maps_keep_insertion_order() -> bool {
    static ORDERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ORDERED.get_or_init(|| {
        let mut map = serde_json::Map::new();
        map.insert("b".into(), Value::Null);
        map.insert("a".into(), Value::Null);
        map.keys().next().map(String::as_str) == Some("b")
    })
}

/// `value` with every object's keys in sorted order, as serde_json keeps
/// them without `preserve_order`, so span JSON (and every render, preview
/// and diff of it) reads the same whichever features the build turns on.
/// Free where maps are sorted already. Only for values within
/// [`MAX_JSON_DEPTH`] (it recurses as deep as the value nests).
pub(crate) fn sorted_keys(value: Value) -> Value {
    if !maps_keep_insertion_order() {
        return value;
    }
    fn sort(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                // Keys of one map are unique, so an unstable sort is deterministic.
                entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sort).collect()),
            other => other,
        }
    }
    sort(value)
}

/// The key of the object [`with_span`](crate::with_span) records in place
/// of an input or output nested deeper than [`MAX_JSON_DEPTH`]:
/// `{"$too_deep": {"limit": 100}}`. The store refuses a trace holding one
/// ([`CassetteError::TooDeep`]), so the loss is counted by `flush()`.
pub(crate) const TOO_DEEP_MARKER: &str = "$too_deep";

/// The marker object for a value nested deeper than `limit`.
pub(crate) fn too_deep_value(limit: usize) -> Value {
    let mut inner = serde_json::Map::new();
    inner.insert("limit".into(), Value::from(limit));
    let mut outer = serde_json::Map::new();
    outer.insert(TOO_DEEP_MARKER.into(), Value::Object(inner));
    Value::Object(outer)
}

/// When `value` holds the marker of a too-deep value at any depth, the
/// depth it is known to exceed (the marker's limit + 1). Searched without
/// recursion.
pub(crate) fn find_too_deep_marker(value: &Value) -> Option<usize> {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(depth) = too_deep_marker(value) {
                    return Some(depth);
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    None
}

/// When `value` is the marker of a too-deep value, the depth it is known
/// to exceed (its limit + 1).
pub(crate) fn too_deep_marker(value: &Value) -> Option<usize> {
    let Value::Object(map) = value else {
        return None;
    };
    let limit = map.get(TOO_DEEP_MARKER)?.get("limit")?.as_u64()?;
    (map.len() == 1).then(|| {
        usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
    })
}

/// Serializes a span's input or output for the record: as
/// [`to_value_within`] with [`MAX_JSON_DEPTH`], and the `$too_deep` marker
/// in place of a deeper value (which the store then refuses, counted).
pub(crate) fn to_span_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    Ok(to_value_within(value, MAX_JSON_DEPTH)?.unwrap_or_else(|| too_deep_value(MAX_JSON_DEPTH)))
}

/// More levels than a [`ModelRequest`](crate::model::ModelRequest) or a
/// [`ModelResponse`](crate::model::ModelResponse) nests above the JSON
/// values it holds (the deepest, a tool call's arguments in a message's
/// content, sits 5 levels down), with room to spare.
const TYPED_LEVELS_ABOVE_VALUES: usize = 16;

/// As [`to_span_json`], in one serialization instead of two when every JSON
/// value embedded in a typed request or response (`embedded`) is shallow
/// enough that the whole cannot exceed [`MAX_JSON_DEPTH`]: then
/// [`to_span_json`] would find it within the limit and give exactly
/// `serde_json::to_value`, so the pass that measures the depth is skipped.
/// Any deeper value takes [`to_span_json`]'s path, unchanged.
fn to_span_json_of_typed<'a, T: Serialize + ?Sized>(
    value: &T,
    mut embedded: impl Iterator<Item = &'a Value>,
) -> Result<Value, serde_json::Error> {
    let shallow = embedded.all(|v| {
        !matches!(v, Value::Array(_) | Value::Object(_))
            || json_depth(v) + TYPED_LEVELS_ABOVE_VALUES <= MAX_JSON_DEPTH
    });
    if shallow {
        serde_json::to_value(value).map(sorted_keys)
    } else {
        to_span_json(value)
    }
}

/// The JSON values a request holds: tool-call arguments, tool parameters, a
/// response schema, `extra`.
fn request_values(req: &crate::model::ModelRequest) -> impl Iterator<Item = &Value> {
    use crate::model::{ContentPart, ResponseFormat};
    let arguments = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|part| match part {
            ContentPart::ToolCall { arguments, .. } => Some(arguments),
            _ => None,
        });
    let schema = match &req.settings.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema),
        _ => None,
    };
    arguments
        .chain(req.tools.iter().map(|t| &t.parameters))
        .chain(schema)
        .chain(req.extra.values())
}

/// A call's request as its span's input: [`to_span_json`], measured without
/// a second serialization when its JSON values are shallow.
pub(crate) fn request_to_span_json(
    req: &crate::model::ModelRequest,
) -> Result<Value, serde_json::Error> {
    to_span_json_of_typed(req, request_values(req))
}

/// A call's response as its span's output: [`to_span_json`], measured
/// without a second serialization when its tool calls' arguments are shallow.
pub(crate) fn response_to_span_json(
    response: &crate::model::ModelResponse,
) -> Result<Value, serde_json::Error> {
    to_span_json_of_typed(response, response.tool_calls.iter().map(|c| &c.arguments))
}

/// Whether [`response_to_span_json`] gives `response` as it is, serialized
/// (no `$too_deep` marker in its place): every tool call's arguments are
/// shallow enough that the whole is within [`MAX_JSON_DEPTH`]. Measured
/// without recursion.
pub(crate) fn response_within_limit(response: &crate::model::ModelResponse) -> bool {
    response.tool_calls.iter().all(|c| {
        !matches!(c.arguments, Value::Array(_) | Value::Object(_))
            || json_depth(&c.arguments) + TYPED_LEVELS_ABOVE_VALUES <= MAX_JSON_DEPTH
    })
}

/// Whether a JSON value in `req` (tool-call arguments, tool parameters, a
/// response schema, `extra`) nests deeper than [`MAX_JSON_DEPTH`] less the
/// 2 levels the request adds above it. Measured without recursion, so the
/// recorder can tell, before it clones the request (cloning a `Value`
/// recurses as deep as it nests), whether it may keep a copy at all.
pub(crate) fn request_too_deep(req: &crate::model::ModelRequest) -> bool {
    let limit = MAX_JSON_DEPTH.saturating_sub(2);
    request_values(req).any(|v| json_depth(v) > limit)
}

/// What the recorder keeps of a request [`request_too_deep`] refuses to
/// copy: its model id, with the `$too_deep` marker as its `extra`, so the
/// store refuses the trace (counted) rather than write a partial request.
pub(crate) fn too_deep_request(req: &crate::model::ModelRequest) -> crate::model::ModelRequest {
    let Value::Object(marker) = too_deep_value(MAX_JSON_DEPTH) else {
        unreachable!("the marker is an object")
    };
    let mut kept = crate::model::ModelRequest::new(req.model.clone());
    kept.extra = marker;
    kept
}

/// A writer of compact JSON text that fails once arrays and objects nest
/// deeper than `limit`, which makes the serializer unwind right there.
struct DepthBounded {
    limit: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    too_deep: bool,
}

impl std::io::Write for DepthBounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > self.limit {
                        self.too_deep = true;
                        return Err(std::io::Error::other("nested too deeply"));
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    /// Span JSON lists keys sorted even when a crate in the build turns on
    /// serde_json's `preserve_order` (rig-core does, under `--all-features`).
    #[test]
    fn span_json_keys_are_sorted_whatever_serde_jsons_features() {
        #[derive(serde::Serialize)]
        struct Unsorted {
            zeta: u8,
            alpha: Inner,
        }
        #[derive(serde::Serialize)]
        struct Inner {
            yankee: u8,
            bravo: u8,
        }
        let value = Unsorted {
            zeta: 1,
            alpha: Inner {
                yankee: 2,
                bravo: 3,
            },
        };
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let span = to_span_json(&value).unwrap();
        assert_eq!(keys(&span), ["alpha", "zeta"]);
        assert_eq!(keys(&span["alpha"]), ["bravo", "yankee"]);
        let request = crate::model::ModelRequest::new("m").system("s");
        let span = request_to_span_json(&request).unwrap();
        let sorted = {
            let mut k = keys(&span);
            k.sort();
            k
        };
        assert_eq!(keys(&span), sorted);
    }

    #[test]
    fn sorts_nested_keys_and_is_insensitive_to_insertion_order() {
        let mut a = serde_json::Map::new();
        a.insert("z".into(), json!({"y": 1, "x": 2}));
        a.insert("a".into(), json!([{"k": 1, "b": 0}]));
        let mut b = serde_json::Map::new();
        b.insert("a".into(), json!([{"b": 0, "k": 1}]));
        b.insert("z".into(), json!({"x": 2, "y": 1}));
        let text = canonical_json(&a).unwrap();
        assert_eq!(text, canonical_json(&b).unwrap());
        let s = String::from_utf8(text).unwrap();
        assert!(s.find("\"a\"").unwrap() < s.find("\"z\"").unwrap());
        assert!(s.find("\"b\"").unwrap() < s.find("\"k\"").unwrap());
        assert!(s.find("\"x\"").unwrap() < s.find("\"y\"").unwrap());
    }

    #[test]
    fn sorts_by_bytes_and_prints_empty_containers_compactly() {
        let text = canonical_json(&json!({"é": 1, "Z": 2, "a": {}, "b": []})).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "{\n  \"Z\": 2,\n  \"a\": {},\n  \"b\": [],\n  \"é\": 1\n}\n"
        );
    }

    #[test]
    fn floats_survive_a_round_trip_through_the_text() {
        for x in [0.1 + 0.2, 1e-300, f64::MAX, -0.0, 5e-324, 0.7f32 as f64] {
            let text = canonical_json(&json!({ "x": x })).unwrap();
            let back: Value = serde_json::from_slice(&text).unwrap();
            assert_eq!(back["x"].as_f64().unwrap().to_bits(), x.to_bits(), "{x}");
            assert_eq!(canonical_json(&back).unwrap(), text);
        }
    }

    #[test]
    fn a_map_with_non_string_keys_is_a_typed_error() {
        let map: HashMap<Vec<u8>, u8> = [(vec![1u8], 1u8)].into_iter().collect();
        assert!(matches!(
            canonical_json(&map),
            Err(JsonError::Serialize { .. })
        ));
    }

    #[test]
    fn depth_bound_counts_brackets_outside_strings_only() {
        let tricky = json!({"s": "[[[{{{\\\"[[[", "a": [[1]]});
        assert_eq!(json_depth(&tricky), 3);
        assert_eq!(to_value_within(&tricky, 3).unwrap(), Some(tricky.clone()));
        assert_eq!(to_value_within(&tricky, 2).unwrap(), None);
        assert_eq!(to_value_within(&json!(1), 0).unwrap(), Some(json!(1)));
        let map: HashMap<Vec<u8>, u8> = [(vec![1u8], 1u8)].into_iter().collect();
        assert!(to_value_within(&map, 10).is_err());
    }

    #[test]
    fn the_too_deep_marker_is_found_at_any_depth() {
        let marker = too_deep_value(MAX_JSON_DEPTH);
        assert_eq!(too_deep_marker(&marker), Some(MAX_JSON_DEPTH + 1));
        let nested = json!({"a": [1, {"extra": marker}]});
        assert_eq!(find_too_deep_marker(&nested), Some(MAX_JSON_DEPTH + 1));
        assert_eq!(find_too_deep_marker(&json!({"$too_deep": 1, "b": 2})), None);
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

#[cfg(test)]
mod typed_span_json_tests {
    use serde_json::json;

    use super::*;
    use crate::model::{
        ContentPart, Message, ModelInfo, ModelRequest, ModelResponse, ResponseFormat, Role,
        ToolCall, ToolDefinition,
    };

    /// A JSON value nested `depth` levels deep (`0` is a scalar).
    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!(1), |inner, i| {
            if i % 2 == 0 {
                json!([inner])
            } else {
                json!({ "k": inner })
            }
        })
    }

    /// Requests holding a value of `depth` levels in each place a request
    /// holds JSON values.
    fn requests(depth: usize) -> Vec<ModelRequest> {
        let tool_call = Message {
            role: Role::Assistant,
            content: vec![ContentPart::ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: nested(depth),
            }],
        };
        let mut schema = ModelRequest::new("m").user("u");
        schema.settings.response_format = Some(ResponseFormat::JsonSchema {
            name: "s".into(),
            schema: nested(depth),
            strict: false,
        });
        vec![
            ModelRequest::new("m").user("u").message(tool_call),
            ModelRequest::new("m").tool(ToolDefinition::new("f", "d", nested(depth))),
            schema,
            ModelRequest::new("m").extra("x", nested(depth)),
        ]
    }

    /// The one-pass path gives exactly what the measuring path gives, on
    /// either side of the depth limit and of the margin it keeps.
    #[test]
    fn typed_requests_and_responses_serialize_as_the_measuring_path_does() {
        let mut markers = 0;
        for depth in [
            0, 1, 3, 50, 83, 84, 85, 90, 94, 95, 96, 97, 98, 99, 100, 101, 150,
        ] {
            for req in requests(depth) {
                let exact = to_span_json(&req).unwrap();
                markers += usize::from(find_too_deep_marker(&exact).is_some());
                assert_eq!(request_to_span_json(&req).unwrap(), exact, "depth {depth}");
            }
            let mut response = ModelResponse::text(ModelInfo::new("p", "m"), "t");
            response.tool_calls.push(ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: nested(depth),
            });
            let exact = to_span_json(&response).unwrap();
            markers += usize::from(find_too_deep_marker(&exact).is_some());
            assert_eq!(
                response_to_span_json(&response).unwrap(),
                exact,
                "depth {depth}"
            );
        }
        assert!(markers > 0, "some cases are past the limit");
    }
}

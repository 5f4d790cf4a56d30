//! JSON Pointers (RFC 6901) with a `*` wildcard segment: the one pointer
//! engine of the crate, used by [`Redaction`](crate::cassette::Redaction) paths, the
//! request paths playback ignores, secret findings and JSON diffs.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use super::JsonError;

/// A parsed JSON Pointer: `""` is the whole value, `/a/0/b` walks keys and
/// array indexes, `~1` and `~0` stand for `/` and `~` in a key, and a
/// segment that is exactly `*` matches every key of an object or item of an
/// array. An array index is `0` or digits without a leading zero, within
/// bounds; `-` selects nothing.
///
/// ```
/// use serde_json::json;
/// use tracedeck::json::Pointer;
/// let mut doc = json!({"messages": [{"id": 1, "text": "a"}, {"id": 2}], "seed": 7});
///
/// let mut ids = Vec::new();
/// Pointer::parse("/messages/*/id").unwrap().for_each_match(&mut doc, &mut |v| ids.push(v.clone()));
/// assert_eq!(ids, [json!(1), json!(2)]);
///
/// Pointer::parse("/messages/0/text").unwrap().replace(&mut doc, &json!("[hidden]"));
/// Pointer::parse("/seed").unwrap().remove_from(&mut doc);
/// assert_eq!(doc, json!({"messages": [{"id": 1, "text": "[hidden]"}, {"id": 2}]}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    segments: Vec<Segment>,
}

/// One step of a [`Pointer`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `*`: every key of an object, every item of an array.
    Any,
    /// A key, or an array index written as a key.
    Name(String),
}

impl Segment {
    fn parse(raw: &str) -> Option<Self> {
        if raw == "*" {
            return Some(Self::Any);
        }
        unescape(raw).map(Self::Name)
    }
}

impl Pointer {
    /// Parses `text` strictly: it must be empty or start with `/`, and `~`
    /// must be followed by `0` or `1`.
    ///
    /// # Errors
    /// [`JsonError::InvalidPointer`] naming the pointer and the problem.
    pub fn parse(text: &str) -> Result<Self, JsonError> {
        let invalid = |problem: &str| JsonError::InvalidPointer {
            pointer: text.to_owned(),
            problem: problem.to_owned(),
        };
        if text.is_empty() {
            return Ok(Self {
                text: String::new(),
                segments: Vec::new(),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(invalid("a JSON Pointer is empty or starts with `/`"));
        };
        let segments = rest
            .split('/')
            .map(|raw| {
                Segment::parse(raw).ok_or_else(|| {
                    invalid("`~` must be followed by `0` (for `~`) or `1` (for `/`)")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// Parses `text` leniently, never failing: a missing leading `/` is
    /// added and a `~` not followed by `0` or `1` is kept as it is.
    pub fn parse_lenient(text: &str) -> Self {
        let normalized = if text.is_empty() || text.starts_with('/') {
            text.to_owned()
        } else {
            format!("/{text}")
        };
        let segments = normalized
            .split('/')
            .skip(1)
            .map(|raw| Segment::parse(raw).unwrap_or_else(|| Segment::Name(raw.to_owned())))
            .collect();
        Self {
            text: normalized,
            segments,
        }
    }

    /// The pointer as written (normalized by [`parse_lenient`](Self::parse_lenient)).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is the empty pointer, which selects the whole value.
    pub fn is_whole_value(&self) -> bool {
        self.segments.is_empty()
    }

    /// Calls `f` on every value the pointer selects in `value`, in document
    /// order; a path that selects nothing calls nothing.
    pub fn for_each_match(&self, value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        visit(value, &self.segments, f);
    }

    /// Replaces every value the pointer selects in `value` with `with`.
    pub fn replace(&self, value: &mut Value, with: &Value) {
        self.for_each_match(value, &mut |hit| *hit = with.clone());
    }

    /// Removes every value the pointer selects in `value`; a path that
    /// selects nothing changes nothing. The empty pointer removes nothing.
    ///
    /// Objects along the path that are left empty are removed as well (for a
    /// request, `{}` and absent mean the same); arrays keep their items, so
    /// indexes still line up.
    pub fn remove_from(&self, value: &mut Value) {
        remove(value, &self.segments);
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn visit(value: &mut Value, segments: &[Segment], f: &mut dyn FnMut(&mut Value)) {
    let Some((first, rest)) = segments.split_first() else {
        f(value);
        return;
    };
    match (first, value) {
        (Segment::Any, Value::Object(map)) => {
            for child in map.values_mut() {
                visit(child, rest, f);
            }
        }
        (Segment::Any, Value::Array(items)) => {
            for child in items {
                visit(child, rest, f);
            }
        }
        (Segment::Name(name), Value::Object(map)) => {
            if let Some(child) = map.get_mut(name) {
                visit(child, rest, f);
            }
        }
        (Segment::Name(name), Value::Array(items)) => {
            if let Some(child) = array_index(name).and_then(|i| items.get_mut(i)) {
                visit(child, rest, f);
            }
        }
        _ => {}
    }
}

fn remove(value: &mut Value, segments: &[Segment]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    if rest.is_empty() {
        match (value, first) {
            (Value::Object(map), Segment::Any) => map.clear(),
            (Value::Object(map), Segment::Name(name)) => {
                map.remove(name);
            }
            (Value::Array(items), Segment::Any) => items.clear(),
            (Value::Array(items), Segment::Name(name)) => {
                if let Some(i) = array_index(name).filter(|&i| i < items.len()) {
                    items.remove(i);
                }
            }
            _ => {}
        }
        return;
    }
    match (value, first) {
        (Value::Object(map), Segment::Any) => {
            map.values_mut().for_each(|v| remove(v, rest));
            map.retain(|_, v| !is_empty_object(v));
        }
        (Value::Object(map), Segment::Name(name)) => {
            if let Some(v) = map.get_mut(name) {
                remove(v, rest);
                if is_empty_object(v) {
                    map.remove(name);
                }
            }
        }
        (Value::Array(items), Segment::Any) => items.iter_mut().for_each(|v| remove(v, rest)),
        (Value::Array(items), Segment::Name(name)) => {
            if let Some(item) = array_index(name).and_then(|i| items.get_mut(i)) {
                remove(item, rest);
            }
        }
        _ => {}
    }
}

fn is_empty_object(value: &Value) -> bool {
    matches!(value, Value::Object(map) if map.is_empty())
}

/// An RFC 6901 array index: `0`, or digits without a leading zero.
fn array_index(name: &str) -> Option<usize> {
    let digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
    if !digits || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    name.parse().ok()
}

fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// `key` as one pointer segment: `~` becomes `~0` and `/` becomes `~1`
/// (RFC 6901).
///
/// ```
/// assert_eq!(tracedeck::json::escape("a/b~c"), "a~1b~0c");
/// ```
pub fn escape(key: &str) -> Cow<'_, str> {
    if !key.contains(['~', '/']) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 2);
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Appends `/key` to the pointer text `path`, escaped by [`escape`].
///
/// ```
/// let mut path = String::from("/x");
/// tracedeck::json::push_segment(&mut path, "a/b");
/// assert_eq!(path, "/x/a~1b");
/// ```
pub fn push_segment(path: &mut String, key: &str) {
    path.push('/');
    path.push_str(&escape(key));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn matches(pointer: &str, mut value: Value) -> Vec<Value> {
        let mut found = Vec::new();
        Pointer::parse(pointer)
            .unwrap()
            .for_each_match(&mut value, &mut |v| found.push(v.clone()));
        found
    }

    fn removed(pointer: &str, mut value: Value) -> Value {
        Pointer::parse(pointer).unwrap().remove_from(&mut value);
        value
    }

    #[test]
    fn walks_keys_indexes_and_wildcards() {
        let doc = json!({"a": [{"b": 1}, {"b": 2}, {"c": 3}], "a/b": 4, "m~n": 5});
        assert_eq!(matches("/a/1/b", doc.clone()), vec![json!(2)]);
        assert_eq!(matches("/a/*/b", doc.clone()), vec![json!(1), json!(2)]);
        assert_eq!(matches("/a~1b", doc.clone()), vec![json!(4)]);
        assert_eq!(matches("/m~0n", doc.clone()), vec![json!(5)]);
        assert_eq!(matches("", doc.clone()), vec![doc.clone()]);
        assert!(matches("/a/01/b", doc.clone()).is_empty());
        assert!(matches("/a/-", doc.clone()).is_empty());
        assert!(matches("/a/9", doc.clone()).is_empty());
        assert!(matches("/missing/x", doc).is_empty());
    }

    #[test]
    fn strict_parsing_refuses_what_lenient_parsing_repairs() {
        for bad in ["a/b", "/a~2", "/a~"] {
            match Pointer::parse(bad) {
                Err(JsonError::InvalidPointer { pointer, .. }) => assert_eq!(pointer, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert_eq!(
            Pointer::parse_lenient("a/b"),
            Pointer::parse("/a/b").unwrap()
        );
        assert_eq!(Pointer::parse_lenient("a/b").as_str(), "/a/b");
        let lenient = Pointer::parse_lenient("/a~2");
        let mut doc = json!({"a~2": 1});
        let mut hits = 0;
        lenient.for_each_match(&mut doc, &mut |_| hits += 1);
        assert_eq!(hits, 1);
        assert!(Pointer::parse("").unwrap().is_whole_value());
        assert!(!Pointer::parse("/a").unwrap().is_whole_value());
    }

    #[test]
    fn replace_sets_every_match() {
        let mut doc = json!({"m": [{"k": 1}, {"k": 2}, {"j": 3}]});
        Pointer::parse("/m/*/k")
            .unwrap()
            .replace(&mut doc, &json!("x"));
        assert_eq!(doc, json!({"m": [{"k": "x"}, {"k": "x"}, {"j": 3}]}));
        Pointer::parse("").unwrap().replace(&mut doc, &json!(null));
        assert_eq!(doc, json!(null));
    }

    #[test]
    fn removes_a_nested_key() {
        assert_eq!(
            removed("/a/b", json!({"a": {"b": 1, "c": 2}})),
            json!({"a": {"c": 2}})
        );
        assert_eq!(removed("", json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn remove_wildcards_match_keys_and_indices() {
        assert_eq!(
            removed("/*/x", json!({"a": {"x": 1, "y": 1}, "b": {"x": 2}})),
            json!({"a": {"y": 1}})
        );
        assert_eq!(
            removed("/m/*/id", json!({"m": [{"id": 1, "t": "a"}, {"id": 2}]})),
            json!({"m": [{"t": "a"}, {}]})
        );
        assert_eq!(removed("/m/*", json!({"m": [1, 2]})), json!({"m": []}));
    }

    #[test]
    fn remove_array_indices_follow_rfc_6901() {
        assert_eq!(
            removed("/a/1", json!({"a": [0, 1, 2]})),
            json!({"a": [0, 2]})
        );
        assert_eq!(removed("/a/01", json!({"a": [0, 1]})), json!({"a": [0, 1]}));
        assert_eq!(removed("/a/9", json!({"a": [0]})), json!({"a": [0]}));
        assert_eq!(removed("/a/9/b", json!({"a": [0]})), json!({"a": [0]}));
        assert_eq!(removed("/a/-1", json!({"a": [0]})), json!({"a": [0]}));
    }

    #[test]
    fn objects_left_empty_along_the_path_are_removed() {
        assert_eq!(
            removed("/a/b/c", json!({"a": {"b": {"c": 1}}, "d": 1})),
            json!({"d": 1})
        );
        assert_eq!(removed("/a/b", json!({"a": {}})), json!({}));
        assert_eq!(removed("/extra/*", json!({"extra": {"x": 1}})), json!({}));
        // Arrays keep their elements, so indices still line up.
        assert_eq!(
            removed("/m/*/id", json!({"m": [{"id": 1}]})),
            json!({"m": [{}]})
        );
        // Empty objects off the path stay.
        assert_eq!(
            removed("/a/b", json!({"a": {"b": 1}, "e": {}})),
            json!({"e": {}})
        );
    }

    #[test]
    fn remove_decodes_escapes_and_ignores_missing_paths() {
        assert_eq!(
            removed("/a~1b/c~0d", json!({"a/b": {"c~d": 1, "e": 2}})),
            json!({"a/b": {"e": 2}})
        );
        let v = json!({"a": [1, "x"]});
        assert_eq!(removed("/b/c", v.clone()), v);
        assert_eq!(removed("/a/1/c", v.clone()), v);
    }

    #[test]
    fn escape_round_trips_through_parse() {
        assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
        let mut path = String::from("/x");
        push_segment(&mut path, "a/b~c");
        assert_eq!(path, "/x/a~1b~0c");
        let doc = json!({"x": {"a/b~c": 1}});
        assert_eq!(matches(&path, doc), vec![json!(1)]);
    }
}

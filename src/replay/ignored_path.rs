use serde_json::Value;

use super::ReplayError;

/// A part of a request that playback leaves out when it matches a call to a
/// recording: a JSON pointer (RFC 6901) into the serialized
/// [`ModelRequest`](crate::ModelRequest), where a `*` segment matches every
/// key of an object or every element of an array.
///
/// The value is removed from both the recorded and the new request before
/// they are hashed, so a field that is present on one side only matches too.
/// Objects along the path that are left empty are removed as well (`{}` and
/// absent mean the same in a request): `/settings/temperature` matches a
/// request whose settings hold nothing else, `/extra/*` one with no `extra`.
///
/// ```
/// use serde_json::json;
/// use tracedeck::replay::IgnoredPath;
/// let mut request = json!({"settings": {"seed": 7, "temperature": 0.2}, "messages": [{"id": 1}, {"id": 2}]});
/// IgnoredPath::parse("/settings/seed").unwrap().remove_from(&mut request);
/// IgnoredPath::parse("/messages/*/id").unwrap().remove_from(&mut request);
/// assert_eq!(request, json!({"settings": {"temperature": 0.2}, "messages": [{}, {}]}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredPath {
    pointer: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Any,
    Name(String),
}

impl IgnoredPath {
    /// Parses a JSON pointer such as `/settings/seed` or `/messages/*/id`.
    ///
    /// # Errors
    /// [`ReplayError::InvalidIgnoredPath`] for a pointer that does not start
    /// with `/`, for the empty pointer (it would ignore the whole request, so
    /// every call would match every recording), and for a `~` not followed by
    /// `0` or `1`.
    pub fn parse(pointer: &str) -> Result<Self, ReplayError> {
        let invalid = |reason: &str| ReplayError::InvalidIgnoredPath {
            path: pointer.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(rest) = pointer.strip_prefix('/') else {
            return Err(invalid(if pointer.is_empty() {
                "the empty pointer is the whole request, which would make every call match"
            } else {
                "a JSON pointer starts with `/`, e.g. `/settings/seed`"
            }));
        };
        let segments = rest
            .split('/')
            .map(|raw| match raw {
                "*" => Ok(Segment::Any),
                raw => unescape(raw).map(Segment::Name).ok_or_else(|| {
                    invalid("`~` must be followed by `0` (for `~`) or `1` (for `/`)")
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            pointer: pointer.to_owned(),
            segments,
        })
    }

    /// The pointer as given.
    pub fn as_str(&self) -> &str {
        &self.pointer
    }

    /// Removes every value this path matches in `value`; paths that match
    /// nothing change nothing.
    pub fn remove_from(&self, value: &mut Value) {
        remove(value, &self.segments);
    }
}

impl std::fmt::Display for IgnoredPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.pointer)
    }
}

fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next()? {
                '0' => out.push('~'),
                '1' => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
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
                if let Some(i) = array_index(name, items.len()) {
                    items.remove(i);
                }
            }
            _ => {}
        }
        return;
    }
    // Objects along the path that are left empty go too: `{}` and absent
    // mean the same for a request, and must hash the same.
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
            if let Some(i) = array_index(name, items.len()) {
                remove(&mut items[i], rest);
            }
        }
        _ => {}
    }
}

fn is_empty_object(value: &Value) -> bool {
    matches!(value, Value::Object(map) if map.is_empty())
}

/// An RFC 6901 array index: digits without a leading zero, within bounds.
fn array_index(segment: &str, len: usize) -> Option<usize> {
    let canonical = segment == "0" || (!segment.starts_with('0') && !segment.is_empty());
    if !canonical || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    segment.parse().ok().filter(|&i| i < len)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn removed(pointer: &str, mut value: Value) -> Value {
        IgnoredPath::parse(pointer).unwrap().remove_from(&mut value);
        value
    }

    #[test]
    fn removes_a_nested_key() {
        assert_eq!(
            removed("/a/b", json!({"a": {"b": 1, "c": 2}})),
            json!({"a": {"c": 2}})
        );
    }

    #[test]
    fn wildcards_match_keys_and_indices() {
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
    fn array_indices_follow_rfc_6901() {
        assert_eq!(
            removed("/a/1", json!({"a": [0, 1, 2]})),
            json!({"a": [0, 2]})
        );
        assert_eq!(removed("/a/01", json!({"a": [0, 1]})), json!({"a": [0, 1]}));
        assert_eq!(removed("/a/9", json!({"a": [0]})), json!({"a": [0]}));
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
    fn escapes_are_decoded() {
        assert_eq!(
            removed("/a~1b/c~0d", json!({"a/b": {"c~d": 1, "e": 2}})),
            json!({"a/b": {"e": 2}})
        );
    }

    #[test]
    fn missing_paths_change_nothing() {
        let v = json!({"a": [1, "x"]});
        assert_eq!(removed("/b/c", v.clone()), v);
        assert_eq!(removed("/a/1/c", v.clone()), v);
    }

    #[test]
    fn bad_pointers_are_typed_errors() {
        for bad in ["", "settings/seed", "/a~2", "/a~"] {
            match IgnoredPath::parse(bad) {
                Err(ReplayError::InvalidIgnoredPath { path, .. }) => assert_eq!(path, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}

//! JSON Pointers (RFC 6901) with a `*` wildcard segment, as used by
//! [`Redaction`](super::Redaction).

use serde_json::Value;

use super::error::CassetteError;

/// A parsed pointer: `""` is the whole value, `/a/0/b` walks keys and array
/// indexes, `~1` and `~0` stand for `/` and `~` in a key, and a segment that
/// is exactly `*` matches every key of an object or item of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pointer {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Any,
    Name(String),
}

impl Pointer {
    /// Parses `text` strictly: it must be empty or start with `/`, and `~`
    /// must be followed by `0` or `1`.
    pub(crate) fn parse(text: &str) -> Result<Self, CassetteError> {
        let invalid = |problem: &str| CassetteError::InvalidPointer {
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
                if raw == "*" {
                    return Ok(Segment::Any);
                }
                unescape(raw).map(Segment::Name).ok_or_else(|| {
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
    pub(crate) fn parse_lenient(text: &str) -> Self {
        let normalized = if text.is_empty() || text.starts_with('/') {
            text.to_owned()
        } else {
            format!("/{text}")
        };
        let segments = normalized
            .split('/')
            .skip(1)
            .map(|raw| match raw {
                "*" => Segment::Any,
                _ => Segment::Name(unescape(raw).unwrap_or_else(|| raw.to_owned())),
            })
            .collect();
        Self {
            text: normalized,
            segments,
        }
    }

    /// The pointer as written (normalized by [`parse_lenient`](Self::parse_lenient)).
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Calls `f` on every value the pointer selects in `value`.
    pub(crate) fn for_each_match(&self, value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        visit(value, &self.segments, f);
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

/// Appends `key` to the pointer `base`, escaped per RFC 6901.
pub(crate) fn push_segment(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
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
        assert!(matches("/missing/x", doc).is_empty());
    }

    #[test]
    fn strict_parsing_refuses_what_lenient_parsing_repairs() {
        assert!(Pointer::parse("a/b").is_err());
        assert!(Pointer::parse("/a~2").is_err());
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
    }

    #[test]
    fn push_segment_escapes() {
        assert_eq!(push_segment("/x", "a/b~c"), "/x/a~1b~0c");
    }
}

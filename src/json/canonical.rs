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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

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
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

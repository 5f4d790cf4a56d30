use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::push_segment;

/// One difference between two JSON values: where it is, what was there, and
/// what is there now.
///
/// Displays as `path: old → new`, with `(absent)` for a side that has no
/// value and long values shortened around the first difference, so a changed
/// word deep inside a long prompt stays visible:
///
/// ```
/// use serde_json::json;
/// use tracedeck::json::diff_json;
/// let changes = diff_json(
///     &json!({"messages": [{"text": "Capital of France?"}], "temperature": 0.2}),
///     &json!({"messages": [{"text": "Capital of Spain?"}]}),
/// );
/// let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
/// assert_eq!(lines, [
///     r#"/messages/0/text: "Capital of France?" → "Capital of Spain?""#,
///     "/temperature: 0.2 → (absent)",
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonChange {
    /// Where, as a JSON pointer (RFC 6901); empty for the whole value.
    pub path: String,
    /// The old value; `None` when the path was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The new value; `None` when the path was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// The most characters of one side of a change that [`JsonChange`]'s display shows.
const SHOWN_CHARS: usize = 100;
/// How many characters before the first difference a shortened string keeps.
const CONTEXT_CHARS: usize = 24;

impl fmt::Display for JsonChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(whole value)"
        } else {
            &self.path
        };
        let old = self.old.as_ref().map(compact);
        let new = self.new.as_ref().map(compact);
        let skip = match (&old, &new) {
            (Some(o), Some(n)) => common_prefix_chars(o, n).saturating_sub(CONTEXT_CHARS),
            _ => 0,
        };
        let show = |side: &Option<String>| match side {
            Some(text) => shorten(text, skip),
            None => "(absent)".to_owned(),
        };
        write!(f, "{path}: {} → {}", show(&old), show(&new))
    }
}

/// Every difference between `old` and `new`, in a stable order: object keys
/// sorted, array elements by index (an array that grew or shrank shows the
/// extra elements as added or removed at their own index).
pub fn diff_json(old: &Value, new: &Value) -> Vec<JsonChange> {
    let mut changes = Vec::new();
    let mut path = String::new();
    diff_into(old, new, &mut path, &mut changes);
    changes
}

fn diff_into(old: &Value, new: &Value, path: &mut String, out: &mut Vec<JsonChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            // Sorted explicitly: serde_json's map keeps insertion order when
            // any crate in the build enables its `preserve_order` feature.
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let len = path.len();
                push_segment(path, key);
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff_into(x, y, path, out),
                    (x, y) => out.push(change(path, x, y)),
                }
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => diff_into(x, y, path, out),
                    (x, y) => out.push(change(path, x, y)),
                }
                path.truncate(len);
            }
        }
        _ if old == new => {}
        _ => out.push(change(path, Some(old), Some(new))),
    }
}

fn change(path: &str, old: Option<&Value>, new: Option<&Value>) -> JsonChange {
    JsonChange {
        path: path.to_owned(),
        old: old.cloned(),
        new: new.cloned(),
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
}

fn common_prefix_chars(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// Drops the first `skip` characters (marking the cut with `…`) and keeps at
/// most [`SHOWN_CHARS`] of the rest.
fn shorten(text: &str, skip: usize) -> String {
    let mut out = String::new();
    if skip > 0 {
        out.push('…');
    }
    let rest: String = text.chars().skip(skip).take(SHOWN_CHARS + 1).collect();
    if rest.chars().count() > SHOWN_CHARS {
        out.extend(rest.chars().take(SHOWN_CHARS));
        out.push('…');
    } else {
        out.push_str(&rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lines(old: Value, new: Value) -> Vec<String> {
        diff_json(&old, &new)
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn equal_values_have_no_changes() {
        let v = json!({"a": [1, {"b": null}], "c": "x"});
        assert!(diff_json(&v, &v.clone()).is_empty());
    }

    #[test]
    fn nested_changes_name_their_paths_in_key_order() {
        assert_eq!(
            lines(
                json!({"z": 1, "a": {"b": [1, 2, 3]}, "gone": true}),
                json!({"z": 2, "a": {"b": [1, 5]}, "new": "x"})
            ),
            [
                "/a/b/1: 2 → 5",
                "/a/b/2: 3 → (absent)",
                "/gone: true → (absent)",
                r#"/new: (absent) → "x""#,
                "/z: 1 → 2",
            ]
        );
    }

    #[test]
    fn keys_with_slash_and_tilde_are_escaped() {
        let changes = diff_json(&json!({"a/b~c": 1}), &json!({"a/b~c": 2}));
        assert_eq!(changes[0].path, "/a~1b~0c");
    }

    #[test]
    fn a_changed_type_is_one_change_at_the_root() {
        assert_eq!(
            lines(json!([1]), json!({"a": 1})),
            [r#"(whole value): [1] → {"a":1}"#]
        );
    }

    #[test]
    fn long_strings_are_shown_around_the_first_difference() {
        let base = "word ".repeat(60);
        let line = lines(
            json!(format!("{base}France")),
            json!(format!("{base}Spain")),
        )
        .remove(0);
        // The common prefix is cut down to the last CONTEXT_CHARS before the difference.
        let context = &base[base.len() - CONTEXT_CHARS..];
        assert_eq!(
            line,
            format!("(whole value): …{context}France\" → …{context}Spain\"")
        );
    }

    #[test]
    fn very_long_values_are_cut() {
        let long = "x".repeat(1000);
        let line = lines(json!({"a": long}), json!({"a": 1})).remove(0);
        assert!(line.contains('…'));
        assert!(line.chars().count() < SHOWN_CHARS + 40, "{line}");
    }
}

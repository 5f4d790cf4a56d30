use serde_json::Value;

use super::ReplayError;
use crate::json::{JsonError, Pointer};

/// A part of a request that playback leaves out ([`PlaybackOptions::ignore_path`](super::PlaybackOptions::ignore_path)) when it matches a call to a
/// recording: a JSON pointer (RFC 6901) into the serialized
/// [`ModelRequest`](crate::ModelRequest), where a `*` segment matches every
/// key of an object or every element of an array.
///
/// The value is removed from both the recorded and the new request before
/// they are hashed, so a field that is present on one side only matches too.
/// Objects along the path that are left empty are removed as well (`{}` and
/// absent mean the same in a request): `/settings/temperature` matches a
/// request whose settings hold nothing else, `/extra/*` one with no `extra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IgnoredPath(Pointer);

impl IgnoredPath {
    /// Parses a JSON pointer such as `/settings/seed` or `/messages/*/id`.
    ///
    /// # Errors
    /// [`ReplayError::InvalidIgnoredPath`] for a pointer that does not start
    /// with `/`, for the empty pointer (it would ignore the whole request, so
    /// every call would match every recording), and for a `~` not followed by
    /// `0` or `1`.
    pub(crate) fn parse(pointer: &str) -> Result<Self, ReplayError> {
        let invalid = |reason: &str| ReplayError::InvalidIgnoredPath {
            path: pointer.to_owned(),
            reason: reason.to_owned(),
        };
        if pointer.is_empty() {
            return Err(invalid(
                "the empty pointer is the whole request, which would make every call match",
            ));
        }
        if !pointer.starts_with('/') {
            return Err(invalid(
                "a JSON pointer starts with `/`, e.g. `/settings/seed`",
            ));
        }
        match Pointer::parse(pointer) {
            Ok(parsed) => Ok(Self(parsed)),
            Err(JsonError::InvalidPointer { problem, .. }) => Err(invalid(&problem)),
            Err(other) => Err(invalid(&other.to_string())),
        }
    }

    /// The pointer as given.
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Removes every value this path matches in `value`; paths that match
    /// nothing change nothing. See [`Pointer::remove_from`].
    pub(crate) fn remove_from(&self, value: &mut Value) {
        self.0.remove_from(value);
    }
}

impl std::fmt::Display for IgnoredPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn removes_through_the_shared_pointer_engine() {
        let mut value = json!({"a": {"b": {"c": 1}}, "m": [{"id": 1}], "d": 1});
        IgnoredPath::parse("/a/b/c")
            .unwrap()
            .remove_from(&mut value);
        IgnoredPath::parse("/m/*/id")
            .unwrap()
            .remove_from(&mut value);
        assert_eq!(value, json!({"m": [{}], "d": 1}));
        assert_eq!(IgnoredPath::parse("/a~1b").unwrap().to_string(), "/a~1b");
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

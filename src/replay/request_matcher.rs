use serde_json::Value;

use super::ignored_path::IgnoredPath;
use crate::cassette::Redaction;
use crate::json::{canonical_json, sha256_hex};

/// Turns a request into what playback compares: the serialized
/// [`ModelRequest`](crate::ModelRequest) with the store's redaction applied
/// and every ignored path removed, hashed as
/// `sha256_hex(canonical_json(..))`.
///
/// Redaction runs on both sides: a recorded request was redacted when it was
/// written, and a live request must be redacted the same way to hash the same.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestMatcher {
    pub(crate) redaction: Redaction,
    pub(crate) ignored: Vec<IgnoredPath>,
}

impl RequestMatcher {
    /// The request as playback compares it.
    pub(crate) fn normalize(&self, request: &Value) -> Value {
        self.normalize_owned(request.clone())
    }

    /// [`normalize`](Self::normalize) of a request the caller no longer
    /// needs: no copy of it is made.
    pub(crate) fn normalize_owned(&self, mut value: Value) -> Value {
        self.redaction.apply(&mut value);
        for path in &self.ignored {
            path.remove_from(&mut value);
        }
        value
    }

    /// The playback hash of an already normalized request.
    pub(crate) fn hash(normalized: &Value) -> String {
        match canonical_json(normalized) {
            Ok(bytes) => sha256_hex(&bytes),
            // A `Value` always serializes (its keys are strings, its numbers
            // finite); should that ever change, both sides of a comparison
            // still take this same deterministic path.
            Err(_) => sha256_hex(normalized.to_string().as_bytes()),
        }
    }
}

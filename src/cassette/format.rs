//! The bytes of one cassette file, format version 1: encoding a trace and
//! decoding (and checking) a file.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical::{canonical_json, sha256_hex};
use super::error::CassetteError;
use crate::span::Trace;

/// The value of a cassette's `format` field.
pub const FORMAT: &str = "tracedeck/cassette";

/// The cassette format version this build writes and reads.
pub const VERSION: u64 = 1;

/// A cassette file's top-level object.
#[derive(Serialize)]
struct Envelope<'a> {
    format: &'static str,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded_at: Option<String>,
    trace: &'a Trace,
}

/// The canonical bytes of the cassette holding `trace` (already redacted).
pub(crate) fn encode(
    trace: &Trace,
    recorded_at: Option<SystemTime>,
) -> Result<Vec<u8>, CassetteError> {
    canonical_json(&Envelope {
        format: FORMAT,
        version: VERSION,
        recorded_at: recorded_at.map(|t| humantime::format_rfc3339_micros(t).to_string()),
        trace,
    })
}

/// A checked cassette file.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The file's parsed JSON.
    pub value: Value,
    /// The sha256 of its bytes (equal to its name).
    pub hash: String,
    /// Its trace.
    pub trace: Trace,
    /// Its `recorded_at`, if it has one.
    pub recorded_at: Option<SystemTime>,
}

/// Parses `bytes` as JSON, telling a cut-off file from one that is not JSON.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Value, CassetteError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            CassetteError::Truncated {
                path: path.to_owned(),
                message: e.to_string(),
            }
        } else {
            CassetteError::NotJson {
                path: path.to_owned(),
                message: e.to_string(),
            }
        }
    })
}

/// Decodes and checks the cassette file at `path` with contents `bytes`, in
/// this order: its name is `<64 hex>.json`; it is whole JSON; it is a
/// tracedeck cassette of a version this build reads; its bytes hash to its
/// name; its trace decodes and is well-formed; and, when `folder_key` is
/// given, the trace's key is that key.
pub(crate) fn decode(
    path: &Path,
    bytes: &[u8],
    folder_key: Option<&str>,
) -> Result<Decoded, CassetteError> {
    let Some(expected) = hash_of_file_name(path) else {
        return Err(CassetteError::BadFileName {
            path: path.to_owned(),
        });
    };
    let value = parse(path, bytes)?;
    check_envelope(path, &value)?;
    let hash = sha256_hex(bytes);
    if hash != expected {
        return Err(CassetteError::HashMismatch {
            path: path.to_owned(),
            actual: hash,
        });
    }
    let bad_trace = |message: String| CassetteError::BadTrace {
        path: path.to_owned(),
        message,
    };
    let trace = value
        .get("trace")
        .ok_or_else(|| bad_trace("the `trace` field is missing".into()))
        .and_then(|t| Trace::deserialize(t).map_err(|e| bad_trace(e.to_string())))?;
    check_trace(&trace).map_err(bad_trace)?;
    let recorded_at = match value.get("recorded_at") {
        None => None,
        Some(Value::String(text)) => Some(humantime::parse_rfc3339(text).map_err(|e| {
            bad_trace(format!(
                "`recorded_at` {text:?} is not an RFC 3339 time: {e}"
            ))
        })?),
        Some(other) => {
            return Err(bad_trace(format!(
                "`recorded_at` must be an RFC 3339 string, found {other}"
            )));
        }
    };
    if let Some(folder_key) = folder_key {
        if trace.key() != folder_key {
            return Err(CassetteError::KeyMismatch {
                path: path.to_owned(),
                folder_key: folder_key.to_owned(),
                trace_key: trace.key().to_owned(),
            });
        }
    }
    Ok(Decoded {
        value,
        hash,
        trace,
        recorded_at,
    })
}

fn check_envelope(path: &Path, value: &Value) -> Result<(), CassetteError> {
    let unknown = |problem: String| CassetteError::UnknownFormat {
        path: path.to_owned(),
        problem,
    };
    let Value::Object(map) = value else {
        return Err(unknown(format!(
            "expected a JSON object with \"format\": \"{FORMAT}\", found {}",
            kind_of(value)
        )));
    };
    match map.get("format") {
        Some(Value::String(f)) if f == FORMAT => {}
        Some(other) => {
            return Err(unknown(format!(
                "\"format\" is {other}, expected \"{FORMAT}\""
            )));
        }
        None => return Err(unknown(format!("no \"format\": \"{FORMAT}\" field"))),
    }
    match map.get("version") {
        Some(v) if v.as_u64() == Some(VERSION) => Ok(()),
        found => Err(CassetteError::UnsupportedVersion {
            path: path.to_owned(),
            found: found.map_or_else(|| "(missing)".to_owned(), Value::to_string),
            supported: VERSION,
        }),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The shape every stored trace has, and the [`Trace`] API relies on: at
/// least one span; ids strictly increasing; the first span is the root (no
/// parent); every other span's parent is an earlier span of the trace.
pub(crate) fn check_trace(trace: &Trace) -> Result<(), String> {
    let Some(root) = trace.spans.first() else {
        return Err("the trace has no spans".into());
    };
    if let Some(parent) = root.parent {
        return Err(format!(
            "the first span {} has parent {parent}; the root has none",
            root.id
        ));
    }
    for pair in trace.spans.windows(2) {
        if pair[1].id <= pair[0].id {
            return Err(format!(
                "span ids must increase: {} follows {}",
                pair[1].id, pair[0].id
            ));
        }
    }
    for span in &trace.spans[1..] {
        match span.parent {
            None => {
                return Err(format!(
                    "span {} has no parent but is not the first",
                    span.id
                ));
            }
            Some(parent) if parent >= span.id || trace.span(parent).is_none() => {
                return Err(format!(
                    "span {} has parent {parent}, which is not an earlier span of the trace",
                    span.id
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The hash a cassette's file name claims: `<64 lowercase hex>.json`.
pub(crate) fn hash_of_file_name(path: &Path) -> Option<&str> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".json")?;
    is_full_hash(stem).then_some(stem)
}

/// Whether `s` is 64 lowercase hex digits.
pub(crate) fn is_full_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

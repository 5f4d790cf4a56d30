//! The bytes of one cassette file, format version 1: encoding a trace and
//! decoding (and checking) a file.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::CassetteError;
use crate::json::{canonical_json, sha256_hex};
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
    Ok(canonical_json(&Envelope {
        format: FORMAT,
        version: VERSION,
        recorded_at: recorded_at.map(|t| humantime::format_rfc3339_micros(t).to_string()),
        trace,
    })?)
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
        let path = path.to_owned();
        if e.is_eof() {
            CassetteError::Truncated {
                path,
                source: Arc::new(e),
            }
        } else {
            CassetteError::NotJson {
                path,
                source: Arc::new(e),
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
    let expected = expected_hash(path)?;
    let value = parse(path, bytes)?;
    check_envelope(path, &value)?;
    let hash = checked_hash(path, bytes, expected)?;
    let trace = value
        .get("trace")
        .ok_or_else(|| bad_trace(path, "the `trace` field is missing".into()))
        .and_then(|t| {
            Trace::deserialize(t).map_err(|e| CassetteError::BadTrace {
                path: path.to_owned(),
                message: e.to_string(),
                source: Some(Arc::new(e)),
            })
        })?;
    let (trace, recorded_at) = checked_trace(path, trace, value.get("recorded_at"), folder_key)?;
    Ok(Decoded {
        value,
        hash,
        trace,
        recorded_at,
    })
}

/// A checked cassette's trace, without the JSON tree: what loading needs.
#[derive(Debug)]
pub(crate) struct DecodedTrace {
    pub hash: String,
    pub trace: Trace,
    pub recorded_at: Option<SystemTime>,
}

/// A cassette's top-level object read straight into a trace. Other fields
/// are ignored, as [`decode`] ignores them.
#[derive(Deserialize)]
struct TypedEnvelope {
    format: String,
    version: u64,
    /// `Some` whenever the field is present, even as `null`, so it is
    /// checked exactly as [`decode`] checks it.
    #[serde(default, deserialize_with = "present")]
    recorded_at: Option<Value>,
    trace: Trace,
}

/// A cassette read only as far as superseding needs: its format, version,
/// and its root span's key and input. The other spans are skipped without
/// being built.
#[derive(Debug)]
pub(crate) struct RootOnly {
    pub format: String,
    pub version: u64,
    pub key: String,
    pub input: Value,
}

impl<'de> Deserialize<'de> for RootOnly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Envelope {
            format: String,
            version: u64,
            trace: Spans,
        }
        #[derive(Deserialize)]
        struct Spans {
            spans: FirstSpan,
        }
        #[derive(Deserialize)]
        struct RootSpan {
            key: String,
            input: Value,
        }
        struct FirstSpan(RootSpan);
        impl<'de> Deserialize<'de> for FirstSpan {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visit;
                impl<'de> serde::de::Visitor<'de> for Visit {
                    type Value = FirstSpan;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a non-empty array of spans")
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<FirstSpan, A::Error> {
                        let root: RootSpan = seq
                            .next_element()?
                            .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                        Ok(FirstSpan(root))
                    }
                }
                d.deserialize_seq(Visit)
            }
        }
        let envelope = Envelope::deserialize(d)?;
        let root = envelope.trace.spans.0;
        Ok(RootOnly {
            format: envelope.format,
            version: envelope.version,
            key: root.key,
            input: root.input,
        })
    }
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Decodes and checks a cassette exactly as [`decode`] does, but reads the
/// trace straight from the bytes instead of through a JSON tree, which is
/// about half the work of a load (bench 4 in `BENCHMARKS.md`). A file the
/// direct read does not take as a cassette of this format and version — or
/// that is broken in any way the direct read notices — goes through
/// [`decode`], so every error is the one `decode` gives.
pub(crate) fn decode_trace(
    path: &Path,
    bytes: &[u8],
    folder_key: Option<&str>,
) -> Result<DecodedTrace, CassetteError> {
    let expected = expected_hash(path)?;
    match serde_json::from_slice::<TypedEnvelope>(bytes) {
        Ok(envelope) if envelope.format == FORMAT && envelope.version == VERSION => {
            let hash = checked_hash(path, bytes, expected)?;
            let (mut trace, recorded_at) = checked_trace(
                path,
                envelope.trace,
                envelope.recorded_at.as_ref(),
                folder_key,
            )?;
            shrink_trace(&mut trace);
            Ok(DecodedTrace {
                hash,
                trace,
                recorded_at,
            })
        }
        _ => decode(path, bytes, folder_key).map(|d| DecodedTrace {
            hash: d.hash,
            trace: d.trace,
            recorded_at: d.recorded_at,
        }),
    }
}

/// Gives back the spare capacity decoding leaves in a trace's lists (each
/// grown by doubling while it was read): a loaded trace is kept for a whole
/// replay, and thousands of them at once (issue 15 item 4: about 13% of a
/// decoded trace's heap). Walks the JSON values without recursion.
fn shrink_trace(trace: &mut Trace) {
    trace.spans.shrink_to_fit();
    let mut values: Vec<&mut Value> = Vec::new();
    for span in &mut trace.spans {
        span.parts.shrink_to_fit();
        values.push(&mut *span.input);
        values.extend(span.output.as_deref_mut());
    }
    while let Some(value) = values.pop() {
        match value {
            Value::Array(items) => {
                items.shrink_to_fit();
                values.extend(items.iter_mut());
            }
            Value::Object(map) => values.extend(map.values_mut()),
            Value::String(text) => text.shrink_to_fit(),
            _ => {}
        }
    }
}

/// The hash a cassette's file name says its bytes have.
fn expected_hash(path: &Path) -> Result<&str, CassetteError> {
    hash_of_file_name(path).ok_or_else(|| CassetteError::BadFileName {
        path: path.to_owned(),
    })
}

/// The sha256 of `bytes`, when it is the `expected` one. A mismatch whose
/// bytes hash to `expected` once every CRLF is made LF again is a cassette
/// whose line endings were converted (git's `core.autocrlf`, an editor):
/// [`CassetteError::LineEndingsConverted`], which says how to fix it.
fn checked_hash(path: &Path, bytes: &[u8], expected: &str) -> Result<String, CassetteError> {
    let hash = sha256_hex(bytes);
    if hash != expected {
        // Canonical JSON escapes a CR in a string as `\r`: a raw CR byte is
        // never part of a cassette as written.
        if memchr::memmem::find(bytes, b"\r\n").is_some()
            && sha256_hex(&crlf_to_lf(bytes)) == expected
        {
            return Err(CassetteError::LineEndingsConverted {
                path: path.to_owned(),
                actual: hash,
            });
        }
        return Err(CassetteError::HashMismatch {
            path: path.to_owned(),
            actual: hash,
        });
    }
    Ok(hash)
}

/// `bytes` with every `\r\n` made `\n`.
fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = memchr::memmem::find(rest, b"\r\n") {
        out.extend_from_slice(&rest[..at]);
        out.push(b'\n');
        rest = &rest[at + 2..];
    }
    out.extend_from_slice(rest);
    out
}

fn bad_trace(path: &Path, message: String) -> CassetteError {
    CassetteError::BadTrace {
        path: path.to_owned(),
        message,
        source: None,
    }
}

/// Checks a decoded trace: well-formed, a valid `recorded_at` if present,
/// and in `folder_key`'s folder when given.
fn checked_trace(
    path: &Path,
    trace: Trace,
    recorded_at: Option<&Value>,
    folder_key: Option<&str>,
) -> Result<(Trace, Option<SystemTime>), CassetteError> {
    check_trace(&trace).map_err(|m| bad_trace(path, m))?;
    let recorded_at = match recorded_at {
        None => None,
        Some(Value::String(text)) => Some(humantime::parse_rfc3339(text).map_err(|e| {
            bad_trace(
                path,
                format!("`recorded_at` {text:?} is not an RFC 3339 time: {e}"),
            )
        })?),
        Some(other) => {
            return Err(bad_trace(
                path,
                format!("`recorded_at` must be an RFC 3339 string, found {other}"),
            ));
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
    Ok((trace, recorded_at))
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::span::{Span, SpanKind};

    fn cassette(recorded_at: Option<SystemTime>) -> Vec<u8> {
        let trace = Trace::new(vec![
            Span::fixture(0, None, "turn", SpanKind::Task),
            Span::fixture(1, Some(0), "llm", SpanKind::Llm),
        ])
        .unwrap();
        encode(&trace, recorded_at).unwrap()
    }

    /// `bytes` named as their own hash, in folder `turn`.
    fn named(bytes: &[u8]) -> PathBuf {
        PathBuf::from(format!("store/turn/{}.json", sha256_hex(bytes)))
    }

    /// Rewrites one top-level field of a valid cassette.
    fn with_field(name: &str, json: &str) -> Vec<u8> {
        let mut value: Value = serde_json::from_slice(&cassette(None)).unwrap();
        value[name] = serde_json::from_str(json).unwrap();
        serde_json::to_vec(&value).unwrap()
    }

    fn without_field(name: &str) -> Vec<u8> {
        let mut value: Value = serde_json::from_slice(&cassette(None)).unwrap();
        value.as_object_mut().unwrap().remove(name);
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn the_direct_read_decodes_and_fails_exactly_as_decode() {
        let valid = cassette(None);
        let stamped = cassette(Some(SystemTime::UNIX_EPOCH));
        let text = String::from_utf8(valid.clone()).unwrap();
        let twice = text.replacen("\"trace\":", "\"trace\": {\"spans\": []},\n  \"trace\":", 1);
        let mut cases: Vec<(&str, PathBuf, Vec<u8>, Option<&str>)> = vec![
            ("valid", named(&valid), valid.clone(), Some("turn")),
            ("valid, any folder", named(&valid), valid.clone(), None),
            (
                "recorded_at",
                named(&stamped),
                stamped.clone(),
                Some("turn"),
            ),
            ("wrong folder", named(&valid), valid.clone(), Some("other")),
            (
                "hash mismatch",
                named(b"other"),
                valid.clone(),
                Some("turn"),
            ),
            (
                "bad name",
                PathBuf::from("turn/x.json"),
                valid.clone(),
                None,
            ),
            (
                "truncated",
                PathBuf::new(),
                valid[..valid.len() / 2].to_vec(),
                None,
            ),
            (
                "trailing",
                PathBuf::new(),
                [&valid[..], b"x"].concat(),
                None,
            ),
            ("not an object", PathBuf::new(), b"[1]".to_vec(), None),
            ("twice the trace", PathBuf::new(), twice.into_bytes(), None),
            ("no trace", PathBuf::new(), without_field("trace"), None),
            ("no version", PathBuf::new(), without_field("version"), None),
        ];
        for (field, json) in [
            ("recorded_at", "null"),
            ("recorded_at", "5"),
            ("recorded_at", "\"yesterday\""),
            ("version", "2"),
            ("version", "1.0"),
            ("format", "\"other/cassette\""),
            ("format", "7"),
            ("trace", "{\"spans\": []}"),
            ("trace", "{\"spans\": 3}"),
        ] {
            cases.push((field, PathBuf::new(), with_field(field, json), None));
        }
        for (what, path, bytes, folder) in cases {
            let path = if path.as_os_str().is_empty() {
                named(&bytes)
            } else {
                path
            };
            let direct = decode_trace(&path, &bytes, folder);
            let through_tree = decode(&path, &bytes, folder);
            match (direct, through_tree) {
                (Ok(direct), Ok(tree)) => {
                    assert_eq!(direct.hash, tree.hash, "{what}");
                    assert_eq!(direct.trace, tree.trace, "{what}");
                    assert_eq!(direct.recorded_at, tree.recorded_at, "{what}");
                }
                (Err(direct), Err(tree)) => {
                    assert_eq!(format!("{direct:?}"), format!("{tree:?}"), "{what}");
                }
                (direct, tree) => panic!("{what}: direct {direct:?}, through the tree {tree:?}"),
            }
        }
    }
}

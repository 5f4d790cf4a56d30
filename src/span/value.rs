//! A span's input or output: JSON, built from a call's typed request or
//! response the first time it is read.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::model::{ModelRequest, ModelResponse};

/// A span's [`input`](super::Span::input) or [`output`](super::Span::output):
/// a JSON [`Value`], read through `Deref` (`span.input["model"]`,
/// `span.input.as_str()`, `&*span.input`).
///
/// A [`Recorder`](crate::Recorder) keeps a call's request as it is, typed,
/// when the call is made, and the response when it ends (for a stream, what
/// its parts add up to); each becomes JSON only the first time the value is
/// read, by whoever reads it first: a store's writer thread rather than the
/// model call's task. [`Span::request`](super::Span::request) and
/// [`Span::response`](super::Span::response) copy the typed values without
/// building JSON. The JSON is built once and shared by every clone (clones
/// of a value not yet read are a reference count), so a trace handed to
/// several sinks is turned into JSON once. The JSON is the request or
/// response serialized, with the `$too_deep` marker in place of a value
/// nested deeper than [`MAX_JSON_DEPTH`](crate::json::MAX_JSON_DEPTH), as
/// it was when it was built at the end of the call.
///
/// It serializes, compares (`==` with a `SpanValue` or a `Value`) and
/// prints as the JSON it stands for, so a cassette holds exactly the bytes
/// it held when spans held `Value`s. Build one from JSON with `.into()`;
/// read an `Option<SpanValue>` as an `Option<&Value>` with `.as_deref()`:
///
/// ```
/// use serde_json::json;
/// use tracedeck::span::SpanValue;
/// let input: SpanValue = json!({"city": "Lyon"}).into();
/// assert_eq!(input["city"], "Lyon");
/// assert_eq!(input, json!({"city": "Lyon"}));
/// assert_eq!(serde_json::to_string(&input).unwrap(), r#"{"city":"Lyon"}"#);
/// let output: Option<SpanValue> = Some(json!("done").into());
/// assert_eq!(output.as_deref().and_then(|o| o.as_str()), Some("done"));
/// ```
///
/// Writing through `DerefMut` (`*span.input = json!(..)`, redaction)
/// builds the JSON first if needed and then changes only this value, never
/// its clones.
pub struct SpanValue(Repr);

enum Repr {
    /// JSON already.
    Ready(Value),
    /// A typed value, turned into JSON on first read; shared by clones.
    Deferred(Arc<Deferred>),
}

/// A typed value and, once read, its JSON.
struct Deferred {
    json: OnceLock<Value>,
    /// Dropped once the JSON is built.
    source: Mutex<Option<Source>>,
}

/// What a deferred value is built from.
enum Source {
    Request(ModelRequest),
    Response(ModelResponse),
}

impl Source {
    /// The span JSON of the request or response. Serializing either cannot
    /// fail (every field is a string, a number or a JSON value); were it to,
    /// the error's text is kept in its place, as for a request before.
    fn to_json(&self) -> Value {
        let json = match self {
            Source::Request(req) => crate::json::canonical::request_to_span_json(req),
            Source::Response(response) => crate::json::canonical::response_to_span_json(response),
        };
        json.unwrap_or_else(|e| Value::String(e.to_string()))
    }
}

impl Deferred {
    fn new(source: Source) -> Arc<Self> {
        Arc::new(Deferred {
            json: OnceLock::new(),
            source: Mutex::new(Some(source)),
        })
    }

    /// The JSON, built on the first call. The source is dropped only once
    /// the JSON is built, so a panic while building leaves it to retry.
    fn json(&self) -> &Value {
        self.json.get_or_init(|| {
            let mut source = self.source.lock().unwrap_or_else(PoisonError::into_inner);
            let json = source.as_ref().map_or(Value::Null, Source::to_json);
            *source = None;
            json
        })
    }

    /// The JSON, owned: moved out when this is the last reference, cloned
    /// otherwise.
    fn into_json(this: Arc<Self>) -> Value {
        match Arc::try_unwrap(this) {
            Ok(mut unique) => {
                unique.json();
                unique.json.take().unwrap_or_default()
            }
            Err(shared) => shared.json().clone(),
        }
    }
}

impl SpanValue {
    /// A call's request, turned into JSON when first read.
    ///
    /// The caller has checked that the JSON values the request holds are
    /// within the depth limit (cloning and dropping a `Value` recurse as
    /// deep as it nests): see `json::canonical::request_too_deep`.
    pub(crate) fn deferred_request(req: ModelRequest) -> Self {
        SpanValue(Repr::Deferred(Deferred::new(Source::Request(req))))
    }

    /// A call's response, turned into JSON when first read.
    pub(crate) fn deferred_response(response: ModelResponse) -> Self {
        SpanValue(Repr::Deferred(Deferred::new(Source::Response(response))))
    }

    /// Whether the JSON has been built: true for a value made from JSON,
    /// and for a call's request or response once it has been read.
    pub fn is_built(&self) -> bool {
        match &self.0 {
            Repr::Ready(_) => true,
            Repr::Deferred(deferred) => deferred.json.get().is_some(),
        }
    }

    /// The JSON, built now if it was not yet.
    pub fn as_value(&self) -> &Value {
        match &self.0 {
            Repr::Ready(value) => value,
            Repr::Deferred(deferred) => deferred.json(),
        }
    }

    /// A copy of the call's typed request this value was made from, while
    /// its JSON is not built: what decoding the JSON would give, without
    /// building it. `None` otherwise.
    pub(crate) fn typed_request(&self) -> Option<ModelRequest> {
        self.with_source(|source| match source {
            // The recorder kept a request within the depth limit (or its
            // marker stand-in), so its JSON is exactly the request serialized.
            Source::Request(req) => Some(req.clone()),
            Source::Response(_) => None,
        })
    }

    /// As [`typed_request`](SpanValue::typed_request), for a call's response.
    pub(crate) fn typed_response(&self) -> Option<ModelResponse> {
        self.with_source(|source| match source {
            // A response past the depth limit is the `$too_deep` marker as
            // JSON, which decodes as no response: left to the JSON path.
            Source::Response(response)
                if crate::json::canonical::response_within_limit(response) =>
            {
                Some(response.clone())
            }
            _ => None,
        })
    }

    fn with_source<T>(&self, f: impl FnOnce(&Source) -> Option<T>) -> Option<T> {
        let Repr::Deferred(deferred) = &self.0 else {
            return None;
        };
        if deferred.json.get().is_some() {
            return None;
        }
        let source = deferred
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        source.as_ref().and_then(f)
    }

    /// The JSON, owned (moved out, or cloned when it is shared with a clone).
    pub fn into_value(self) -> Value {
        match self.0 {
            Repr::Ready(value) => value,
            Repr::Deferred(deferred) => Deferred::into_json(deferred),
        }
    }
}

impl Deref for SpanValue {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.as_value()
    }
}

impl DerefMut for SpanValue {
    /// Builds the JSON if needed, then gives this value its own copy to
    /// change (its clones keep theirs).
    fn deref_mut(&mut self) -> &mut Value {
        if let Repr::Deferred(deferred) = &self.0 {
            let json = Deferred::into_json(Arc::clone(deferred));
            self.0 = Repr::Ready(json);
        }
        match &mut self.0 {
            Repr::Ready(value) => value,
            Repr::Deferred(_) => unreachable!("made ready just above"),
        }
    }
}

impl AsRef<Value> for SpanValue {
    fn as_ref(&self) -> &Value {
        self.as_value()
    }
}

impl From<Value> for SpanValue {
    fn from(value: Value) -> Self {
        SpanValue(Repr::Ready(value))
    }
}

impl From<SpanValue> for Value {
    fn from(value: SpanValue) -> Self {
        value.into_value()
    }
}

impl Default for SpanValue {
    /// JSON `null`.
    fn default() -> Self {
        SpanValue(Repr::Ready(Value::Null))
    }
}

impl Clone for SpanValue {
    /// A value not yet read is shared (its JSON is built once for all
    /// clones); JSON is copied.
    fn clone(&self) -> Self {
        SpanValue(match &self.0 {
            Repr::Ready(value) => Repr::Ready(value.clone()),
            Repr::Deferred(deferred) => Repr::Deferred(Arc::clone(deferred)),
        })
    }
}

impl PartialEq for SpanValue {
    fn eq(&self, other: &Self) -> bool {
        if let (Repr::Deferred(a), Repr::Deferred(b)) = (&self.0, &other.0) {
            if Arc::ptr_eq(a, b) {
                return true;
            }
        }
        self.as_value() == other.as_value()
    }
}

impl Eq for SpanValue {}

impl PartialEq<Value> for SpanValue {
    fn eq(&self, other: &Value) -> bool {
        self.as_value() == other
    }
}

impl PartialEq<SpanValue> for Value {
    fn eq(&self, other: &SpanValue) -> bool {
        self == other.as_value()
    }
}

impl fmt::Debug for SpanValue {
    /// As the JSON's `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_value(), f)
    }
}

impl fmt::Display for SpanValue {
    /// As the JSON's `Display`: compact JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_value(), f)
    }
}

impl Serialize for SpanValue {
    /// Exactly as the JSON it stands for.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SpanValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(SpanValue::from)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::json::MAX_JSON_DEPTH;
    use crate::model::{ModelInfo, ToolCall};

    fn request() -> ModelRequest {
        ModelRequest::new("m")
            .system("s")
            .user("hi")
            .temperature(0.5)
    }

    #[test]
    fn a_deferred_request_is_built_on_first_read_as_the_eager_json() {
        let value = SpanValue::deferred_request(request());
        assert!(!value.is_built());
        let clone = value.clone();
        let eager = crate::json::canonical::request_to_span_json(&request()).unwrap();
        assert_eq!(value.typed_request(), Some(request()));
        assert_eq!(*value, eager);
        assert!(value.is_built());
        assert_eq!(value.typed_request(), None, "built: read as JSON");
        assert!(clone.is_built(), "clones share the built JSON");
        assert_eq!(
            serde_json::to_vec(&clone).unwrap(),
            serde_json::to_vec(&eager).unwrap()
        );
        assert_eq!(clone.into_value(), eager);
    }

    #[test]
    fn a_deferred_response_keeps_the_depth_limit() {
        let mut deep = json!(1);
        for _ in 0..MAX_JSON_DEPTH {
            deep = json!([deep]);
        }
        let mut response = ModelResponse::text(ModelInfo::new("p", "m"), "t");
        response.tool_calls.push(ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: deep,
        });
        let value = SpanValue::deferred_response(response.clone());
        // Its JSON is the marker, which decodes as no response: no typed copy.
        assert_eq!(value.typed_response(), None);
        let shallow = ModelResponse::text(ModelInfo::new("p", "m"), "t");
        let typed = SpanValue::deferred_response(shallow.clone()).typed_response();
        assert_eq!(typed, Some(shallow));
        let exact = crate::json::canonical::to_span_json(&response).unwrap();
        assert!(crate::json::canonical::find_too_deep_marker(&exact).is_some());
        assert_eq!(value, exact);
    }

    #[test]
    fn writing_changes_only_this_value_not_its_clones() {
        let original = SpanValue::deferred_request(request());
        let mut changed = original.clone();
        changed["model"] = json!("other");
        assert_eq!(changed["model"], "other");
        assert_eq!(original["model"], "m");
        assert_ne!(original, changed);

        let mut ready: SpanValue = json!({"a": 1}).into();
        let copy = ready.clone();
        *ready = json!(2);
        assert_eq!((ready, copy), (json!(2).into(), json!({"a": 1}).into()));
    }

    #[test]
    fn it_prints_and_serializes_as_its_json() {
        let value = SpanValue::deferred_request(request());
        let json = crate::json::canonical::request_to_span_json(&request()).unwrap();
        assert_eq!(format!("{value:?}"), format!("{json:?}"));
        assert_eq!(value.to_string(), json.to_string());
        let back: SpanValue = serde_json::from_str(&value.to_string()).unwrap();
        assert_eq!(back, value);
        assert_eq!(SpanValue::default(), Value::Null);
    }

    #[test]
    fn a_span_value_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SpanValue>();
        check::<super::super::Trace>();
    }
}

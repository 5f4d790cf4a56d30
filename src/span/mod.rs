//! Spans and traces: what a recording holds.
//!
//! A [`Trace`] is one root [`Span`] and all its descendants, as a flat list
//! sorted by [`SpanId`] (ids are sequential in start order, the root is 0).
//! Every time in it is an offset in integer microseconds: a span's
//! [`Timing::start_us`] from the trace start, and its other times from the
//! span's own start (for an `llm` span, the instant the call was made).

mod render;
mod snapshot;
mod stats;
mod timeline;
mod trace;
mod tree;
mod value;

pub use render::format_us;
pub use snapshot::{SnapshotSpan, TraceSnapshot};
pub use stats::{ModelStats, Percentiles, TokenTotals, TraceStats};
pub use trace::Trace;
pub use value::SpanValue;

use serde::{Deserialize, Serialize};

use crate::model::{ModelError, ModelInfo, ModelRequest, ModelResponse, StreamPart};

/// A span's id within its trace: sequential in start order, the root is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SpanId(pub u64);

impl std::fmt::Display for SpanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SpanKind {
    /// A piece of user code run with [`with_span`](crate::with_span).
    Task,
    /// One model call made through a [`Recorder`](crate::Recorder).
    Llm,
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SpanStatus {
    /// It finished.
    Ok,
    /// It failed; the partial output is kept.
    Error,
    /// It was dropped before it finished (e.g. a consumer dropped the stream); the partial output is kept.
    Cancelled,
}

/// When things happened in a span, in integer microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timing {
    /// The span's start, from the trace start.
    pub start_us: u64,
    /// From the span's start to its end.
    pub duration_us: u64,
    /// Streams: from the call to the stream being open (HTTP: response headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_us: Option<u64>,
    /// Streams: from the call to the first part of any kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_part_us: Option<u64>,
    /// Streams: from the call to the first content-bearing part (time to first token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<u64>,
}

/// A streamed part and when it arrived, from the call's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedPart {
    /// Microseconds from the call's start to the part's arrival.
    pub offset_us: u64,
    /// The part, unchanged.
    pub part: StreamPart,
}

/// One finished span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The id, sequential in start order within the trace.
    pub id: SpanId,
    /// The parent's id; `None` for the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<SpanId>,
    /// The span's key: for a task, the name given to `with_span`; for a call, the recorder's key.
    pub key: String,
    /// Task or model call.
    pub kind: SpanKind,
    /// How it ended.
    pub status: SpanStatus,
    /// When things happened.
    pub timing: Timing,
    /// The input: the task's input, or the full [`ModelRequest`] of a call
    /// (as JSON, built when first read: see [`SpanValue`]).
    pub input: SpanValue,
    /// The output: the task's output, or the [`ModelResponse`] of a call
    /// (partial for a failed or cancelled stream), as JSON built when first
    /// read (see [`SpanValue`]). `None` if there was none.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<SpanValue>,
    /// Calls: the model the recorder wrapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelInfo>,
    /// Calls: whether it was a stream.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streamed: bool,
    /// Calls: every streamed part with its arrival offset, in arrival order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<RecordedPart>,
    /// Why it failed, for status `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ModelError>,
}

/// Reads a field that is present as `Some`, even when it is `null`: serde
/// reads `null` as `None`, which would turn the `()` output of a task into no
/// output on its way through a cassette.
pub(crate) fn present_value<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl Span {
    /// The request of an `llm` span, if its input decodes as one. A
    /// recorded call's input not yet read as JSON is copied as it was kept,
    /// typed, without building its JSON.
    pub fn request(&self) -> Option<ModelRequest> {
        if let Some(req) = self.input.typed_request() {
            return Some(req);
        }
        ModelRequest::deserialize(self.input.as_value()).ok()
    }

    /// The response of an `llm` span, if its output decodes as one. A
    /// recorded call's output not yet read as JSON is copied as it was
    /// kept, typed, without building its JSON.
    pub fn response(&self) -> Option<ModelResponse> {
        if let Some(response) = self.output.as_ref().and_then(SpanValue::typed_response) {
            return Some(response);
        }
        self.output
            .as_ref()
            .and_then(|o| ModelResponse::deserialize(o.as_value()).ok())
    }

    /// Whether this is a model call.
    pub fn is_llm(&self) -> bool {
        self.kind == SpanKind::Llm
    }
}

#[cfg(test)]
impl Span {
    /// A span with empty input, status ok and zero times, for unit tests.
    pub(crate) fn fixture(id: u64, parent: Option<u64>, key: &str, kind: SpanKind) -> Span {
        Span {
            id: SpanId(id),
            parent: parent.map(SpanId),
            key: key.to_owned(),
            kind,
            status: SpanStatus::Ok,
            timing: Timing::default(),
            input: SpanValue::default(),
            output: None,
            model: None,
            streamed: false,
            parts: Vec::new(),
            error: None,
        }
    }
}

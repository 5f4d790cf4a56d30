use std::future::Future;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::{CURRENT, current_span};
use crate::cassette::canonical::to_span_json;
use crate::record::SinkHandle;
use crate::record::live::{LiveSpan, SpanStart};
use crate::span::{SpanKind, SpanStatus};

/// Runs `fut` inside a new `task` span keyed `key`, recording `input` and
/// the future's output.
///
/// The span is a child of the caller's current span (captured now, when
/// `with_span` is called), or the root of a new trace when there is none. It
/// starts when the returned future is first polled. Model calls made through a
/// [`Recorder`](crate::Recorder) while `fut` runs become its children.
///
/// The span ends with status `ok`; `error` when the output serializes as a
/// `Result::Err` or when `fut` panics; `cancelled` when the future is dropped
/// before it completes. The trace goes to the recorders' sinks once every span
/// in it has ended.
///
/// Make the calls *inside* `fut`: `with_span("k", x, model.generate(req))`
/// calls `generate` before the span exists (the argument is evaluated first),
/// so that call is attributed to the caller's span, not to `k`. Write
/// `with_span("k", x, async { model.generate(req).await })`.
///
/// ```
/// use tracedeck::{Collector, Model, ModelRequest, Recorder, Script, ScriptedModel, with_span};
/// # tracedeck::testing::run_paused(async {
/// let traces = Collector::new();
/// let model = Recorder::new(ScriptedModel::new(Script::text("Paris")), traces.clone());
/// let answer = with_span("capital", "France", async {
///     let req = ModelRequest::new("m").user("Capital of France?");
///     model.generate(req).await.map(|r| r.text)
/// })
/// .await
/// .unwrap();
/// assert_eq!(answer, "Paris");
/// let trace = &traces.traces()[0];
/// assert_eq!(trace.key(), "capital");
/// assert_eq!(trace.spans[1].parent, Some(trace.root().id));
/// # });
/// ```
pub fn with_span<I, F>(key: impl Into<String>, input: I, fut: F) -> impl Future<Output = F::Output>
where
    I: Serialize,
    F: Future,
    F::Output: Serialize,
{
    span_future(key.into(), to_json(&input), None, fut)
}

/// [`with_span`] for a new root span whose trace goes to `sink` even when
/// no model call is made in it (a replay that fails before its first call
/// still has a trace to report).
pub(crate) fn with_root_span<I, F>(
    key: impl Into<String>,
    input: I,
    sink: SinkHandle,
    fut: F,
) -> impl Future<Output = F::Output>
where
    I: Serialize,
    F: Future,
    F::Output: Serialize,
{
    span_future(key.into(), to_json(&input), Some(sink), fut)
}

/// The span future: a root with `sink` when one is given, else a child of
/// the caller's current span (or a root when there is none).
fn span_future<F>(
    key: String,
    input: Value,
    sink: Option<SinkHandle>,
    fut: F,
) -> impl Future<Output = F::Output>
where
    F: Future,
    F::Output: Serialize,
{
    let parent = if sink.is_some() { None } else { current_span() };
    async move {
        let start = SpanStart {
            key,
            kind: SpanKind::Task,
            input,
            model: None,
            streamed: false,
        };
        let mut span = LiveSpan::start(parent.as_ref(), start, sink.as_ref());
        let output = CURRENT.scope(Some(span.context()), fut).await;
        let value = to_json(&output);
        let status = if is_err_result(&value) {
            SpanStatus::Error
        } else {
            SpanStatus::Ok
        };
        span.end(status, Some(value), None, Instant::now());
        output
    }
}

/// Serializes `value`, recording a serialization failure in its place rather than failing the task.
///
/// Serialization stops past [`MAX_JSON_DEPTH`](crate::cassette::MAX_JSON_DEPTH) levels of nesting, so a deep
/// input or output never exhausts the caller's stack; the value is then
/// recorded as the `$too_deep` marker, and the store refuses the trace with
/// [`CassetteError::TooDeep`](crate::cassette::CassetteError::TooDeep),
/// counted by `flush()`.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Value {
    to_span_json(value).unwrap_or_else(|e| serde_json::json!({ "$unserializable": e.to_string() }))
}

/// Whether `value` is serde's form of a `Result::Err`.
fn is_err_result(value: &Value) -> bool {
    matches!(value, Value::Object(map) if map.len() == 1 && map.contains_key("Err"))
}

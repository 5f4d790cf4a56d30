use std::any::Any;
use std::error::Error;
use std::fmt::Display;
use std::future::Future;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::live::{LiveSpan, SpanStart};
use super::{CURRENT, current_span};
use crate::json::canonical::to_span_json;
use crate::model::ModelError;
use crate::sink::SinkHandle;
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
/// `Result::Err` (recorded as serde writes it, `{"Err": ...}`) or when `fut`
/// panics; `cancelled` when the future is dropped
/// before it completes. The trace goes to the recorders' sinks once every span
/// in it has ended.
///
/// The output must be [`Serialize`]. For a `Result` whose error is not
/// (`std::io::Error`, `anyhow::Error`, `Box<dyn Error + Send + Sync>`, ...),
/// use [`with_span_result`].
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
    span_future(key.into(), to_json(&input), None, fut, record_serialized)
}

/// [`with_span`] for a future returning a `Result` whose error is any
/// [`Display`] type, serializable or not: `std::io::Error`, `anyhow::Error`,
/// `Box<dyn std::error::Error + Send + Sync>`, your own error enum.
///
/// `Ok(value)` is recorded as `{"Ok": value}` with status `ok`, as
/// [`with_span`] records it. `Err(e)` ends the span with status `error`, the
/// output `{"Err": {"message": ..., "sources": [...]}}` and the span's
/// [`error`](crate::Span::error) a [`ModelError::Other`] whose message is the
/// whole chain joined with `: `. The message is `e`'s `Display`; the sources
/// are its [`Error::source`] chain when `e` is a `std::io::Error` or a boxed
/// `dyn Error` (`Box<dyn Error>`, `+ Send`, `+ Send + Sync`). For any other
/// type, the causes are what its alternate form (`{:#}`) adds to its message,
/// as one entry: an `anyhow::Error` prints its whole chain that way. Box an
/// error, or wrap it in an `io::Error`, to record its sources one by one.
///
/// ```
/// use tracedeck::{Collector, Model, ModelRequest, Recorder, Script, ScriptedModel};
/// use tracedeck::context::with_span_result;
/// # tracedeck::testing::run_paused(async {
/// let traces = Collector::new();
/// let model = Recorder::new(ScriptedModel::new(Script::text("{}")), traces.clone());
/// let result: Result<String, std::io::Error> = with_span_result("load", "config.toml", async {
///     let reply = model.generate(ModelRequest::new("m").user("hi")).await;
///     reply.map_err(std::io::Error::other)?;
///     Err(std::io::Error::new(std::io::ErrorKind::NotFound, "config.toml is missing"))
/// })
/// .await;
/// assert!(result.is_err());
/// let root = traces.traces()[0].root().clone();
/// assert_eq!(root.status, tracedeck::span::SpanStatus::Error);
/// assert_eq!(root.output.unwrap()["Err"]["message"], "config.toml is missing");
/// # });
/// ```
pub fn with_span_result<I, F, T, E>(
    key: impl Into<String>,
    input: I,
    fut: F,
) -> impl Future<Output = Result<T, E>>
where
    I: Serialize,
    F: Future<Output = Result<T, E>>,
    T: Serialize,
    E: Display + 'static,
{
    span_future(key.into(), to_json(&input), None, fut, record_result)
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
    span_future(
        key.into(),
        to_json(&input),
        Some(sink),
        fut,
        record_serialized,
    )
}

/// How a span's output ends it: its status, the recorded output, and the error.
type Ending = (SpanStatus, Value, Option<ModelError>);

/// The span future: a root with `sink` when one is given, else a child of
/// the caller's current span (or a root when there is none).
fn span_future<F>(
    key: String,
    input: Value,
    sink: Option<SinkHandle>,
    fut: F,
    record: fn(&F::Output) -> Ending,
) -> impl Future<Output = F::Output>
where
    F: Future,
{
    let parent = if sink.is_some() { None } else { current_span() };
    async move {
        let start = SpanStart {
            key,
            kind: SpanKind::Task,
            input: input.into(),
            model: None,
            streamed: false,
        };
        let mut span = LiveSpan::start(parent.as_ref(), start, sink.as_ref());
        let output = CURRENT.scope(Some(span.context()), fut).await;
        let (status, value, error) = record(&output);
        span.end(status, Some(value.into()), error, Instant::now());
        output
    }
}

/// A serializable output: `error` when it serializes as a `Result::Err`.
fn record_serialized<T: Serialize>(output: &T) -> Ending {
    let value = to_json(output);
    let status = if is_err_result(&value) {
        SpanStatus::Error
    } else {
        SpanStatus::Ok
    };
    (status, value, None)
}

/// A `Result` whose error need not serialize: the error's message and sources.
fn record_result<T: Serialize, E: Display + 'static>(output: &Result<T, E>) -> Ending {
    match output {
        Ok(value) => (
            SpanStatus::Ok,
            serde_json::json!({ "Ok": to_json(value) }),
            None,
        ),
        Err(err) => {
            let message = err.to_string();
            let sources = sources_of(err);
            let value = serde_json::json!({ "Err": { "message": message, "sources": sources } });
            let chain = std::iter::once(message).chain(sources).collect::<Vec<_>>();
            let error = ModelError::other(chain.join(": "));
            (SpanStatus::Error, value, Some(error))
        }
    }
}

/// The causes an error shows in its alternate form when its type is not
/// one whose chain can be walked: `anyhow::Error` (and errors built like
/// it) print `outer: cause: root` with `{:#}`. The causes are kept as one
/// entry, never split on `: `, which may also stand inside a message.
fn alternate_sources<E: Display>(err: &E) -> Vec<String> {
    let plain = err.to_string();
    let alternate = format!("{err:#}");
    match alternate.strip_prefix(plain.as_str()) {
        Some(rest) if !rest.is_empty() => {
            let causes = rest.trim_start_matches(':').trim_start();
            if causes.is_empty() {
                Vec::new()
            } else {
                vec![causes.to_owned()]
            }
        }
        _ => Vec::new(),
    }
}

/// The messages of `err`'s source chain, when its type exposes one.
fn sources_of<E: Display + 'static>(err: &E) -> Vec<String> {
    let any: &dyn Any = err;
    let as_error: Option<&(dyn Error + 'static)> =
        if let Some(e) = any.downcast_ref::<std::io::Error>() {
            Some(e)
        } else if let Some(e) = any.downcast_ref::<Box<dyn Error + Send + Sync>>() {
            Some(&**e)
        } else if let Some(e) = any.downcast_ref::<Box<dyn Error + Send>>() {
            Some(&**e)
        } else if let Some(e) = any.downcast_ref::<Box<dyn Error>>() {
            Some(&**e)
        } else {
            None
        };
    if as_error.is_none() {
        return alternate_sources(err);
    }
    let mut sources = Vec::new();
    let mut next = as_error.and_then(Error::source);
    while let Some(source) = next {
        sources.push(source.to_string());
        next = source.source();
    }
    sources
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

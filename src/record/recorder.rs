use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::time::Instant;

use super::Sink;
use super::health::{FlushReport, SinkHandle};
use super::live::{LiveSpan, SpanStart, while_calling};
use super::recording_stream::RecordingStream;
use crate::context::current_span;
use crate::model::{Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream};
use crate::span::{SpanKind, SpanStatus};

/// Middleware that records every call to the model it wraps as an `llm` span.
///
/// A `Recorder<M>` is itself a [`Model`]: share one instance (behind an
/// `Arc`) across every task of your program. Each call's parent is the
/// *calling task's* current span, captured when `generate`/`stream` is called
/// — never state on the shared recorder — so concurrent calls land under
/// their own parents. A call made outside any span is the root of a trace of
/// its own.
///
/// For streams it keeps every part with its arrival offset from the call
/// (`t0`, taken before the inner model is called), and stamps `opened`,
/// `first_part` and TTFT (the first *content* part). Parts pass through
/// unchanged, in order, unbuffered. Recording never fails a call: sink errors
/// are counted and reported by [`flush`](Recorder::flush).
///
/// ```
/// use futures::StreamExt;
/// use tracedeck::{Collector, Model, ModelRequest, Recorder, Script, ScriptedModel, StreamPart, with_span};
/// use std::time::Duration;
/// # tracedeck::testing::run_paused(async {
/// let script = Script::new()
///     .open_after(Duration::from_millis(800))
///     .part(StreamPart::StreamStart)
///     .part_after(Duration::from_millis(400), StreamPart::text("Hello"));
/// let traces = Collector::new();
/// let model = Recorder::new(ScriptedModel::new(script), traces.clone());
///
/// with_span("turn", "hi", async {
///     let mut parts = model.stream(ModelRequest::new("m").user("hi")).await.unwrap();
///     while let Some(part) = parts.next().await { part.unwrap(); }
/// }).await;
///
/// let trace = &traces.traces()[0];
/// let call = &trace.spans[1];
/// assert_eq!(call.timing.opened_us, Some(800_000));
/// assert_eq!(call.timing.ttft_us, Some(1_200_000));
/// # });
/// ```
pub struct Recorder<M> {
    inner: M,
    key: Arc<str>,
    sink: SinkHandle,
}

impl<M: Clone> Clone for Recorder<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            key: Arc::clone(&self.key),
            sink: self.sink.clone(),
        }
    }
}

impl<M: Model> Recorder<M> {
    /// Records calls to `inner` into `sink`, as spans keyed `llm`.
    pub fn new(inner: M, sink: impl Sink) -> Self {
        Self::with_shared_sink(inner, Arc::new(sink))
    }

    /// Like [`new`](Recorder::new), for a sink already behind an `Arc`.
    pub fn with_shared_sink(inner: M, sink: Arc<dyn Sink>) -> Self {
        Self {
            inner,
            key: Arc::from("llm"),
            sink: SinkHandle::new(sink),
        }
    }

    /// Sets the key of the spans this recorder records (default `llm`).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Arc::from(key.into());
        self
    }

    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// Waits until the sink has stored every trace handed to it, and reports
    /// how many were delivered and which were lost since the last flush.
    pub async fn flush(&self) -> FlushReport {
        self.sink.flush().await
    }

    /// Starts the call's span, first thing: its start is the call's t0
    /// (contract 2). The request is kept after, as it is: it becomes JSON
    /// later, when the recorder has time to spare (see [`LiveSpan::describe_call`]).
    fn start_call(&self, req: &ModelRequest, streamed: bool) -> LiveSpan {
        let start = SpanStart {
            // `str::to_owned` copies; `to_string` would go through `Display`.
            key: self.key.as_ref().to_owned(),
            kind: SpanKind::Llm,
            input: Value::Null,
            model: None,
            streamed,
        };
        let mut span = LiveSpan::start(current_span().as_ref(), start, Some(&self.sink));
        // A request too deep to copy safely is kept as a marker the store refuses (counted).
        let kept = if crate::cassette::canonical::request_too_deep(req) {
            crate::cassette::canonical::too_deep_request(req)
        } else {
            req.clone()
        };
        span.describe_call(kept, self.inner.info());
        span
    }
}

impl<M: Model> Model for Recorder<M> {
    fn info(&self) -> ModelInfo {
        self.inner.info()
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        let mut span = self.start_call(&req, false);
        let (call, label) = while_calling(span.context(), || self.inner.generate(req));
        if let Some(label) = label {
            span.relabel(label);
        }
        Box::pin(async move {
            let result = settling_input_while_waiting(call, &mut span).await;
            let now = Instant::now();
            match &result {
                Ok(response) => {
                    let output = crate::cassette::canonical::to_span_json(response).ok();
                    span.end(SpanStatus::Ok, output, None, now);
                }
                Err(err) => span.end(SpanStatus::Error, None, Some(err.clone()), now),
            }
            result
        })
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let mut span = self.start_call(&req, true);
        let (open, label) = while_calling(span.context(), || self.inner.stream(req));
        if let Some(label) = label {
            span.relabel(label);
        }
        Box::pin(async move {
            match settling_input_while_waiting(open, &mut span).await {
                Ok(parts) => {
                    span.opened(Instant::now());
                    Ok(Box::pin(RecordingStream::new(parts, span)) as PartStream)
                }
                Err(err) => {
                    span.end(SpanStatus::Error, None, Some(err.clone()), Instant::now());
                    Err(err)
                }
            }
        })
    }
}

/// Awaits `fut`; if it is not ready at once (the model is waiting on the
/// network), turns the span's request into JSON in the meantime, so that work
/// never adds to the call's latency.
async fn settling_input_while_waiting<F: Future + Unpin>(
    mut fut: F,
    span: &mut LiveSpan,
) -> F::Output {
    if let Poll::Ready(output) = futures::poll!(&mut fut) {
        return output;
    }
    span.settle_input();
    fut.await
}

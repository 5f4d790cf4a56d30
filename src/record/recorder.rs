use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::recording_stream::RecordingStream;
use crate::context::{LiveSpan, SpanStart, current_span};
use crate::model::{
    CallNote, Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream,
};
use crate::sink::{FlushReport, Sink, SinkHandle};
use crate::span::{SpanKind, SpanStatus, SpanValue};

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
/// are counted and reported by [`flush`](Recorder::flush). Losses no flush
/// reported are printed as one line on stderr when the recorder's last
/// clone is dropped.
///
/// Calls to a [live](Model::is_live) model (the HTTP adapters) are timed
/// on tokio's clock like any other, and checked against the real clock: a
/// live call made while tokio's clock is paused would record invented
/// times, so its trace is refused with
/// [`SinkError::PausedClock`](crate::sink::SinkError::PausedClock),
/// reported by `flush()` (the call itself succeeds). Record live calls on
/// the real clock; replay them on a paused one.
///
/// The recorder starts each call with the inner model's
/// [`generate_noted`](Model::generate_noted) or
/// [`stream_noted`](Model::stream_noted), and records the call as the
/// returned [`CallNote`] says (a replaying model names the recorded call it
/// serves).
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
    /// Whether only traces with at least one live call go to the sink
    /// (calls noted [`CallNote::replayed`] do not send their trace).
    live_only: bool,
}

impl<M: Clone> Clone for Recorder<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            key: Arc::clone(&self.key),
            sink: self.sink.clone(),
            live_only: self.live_only,
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
            live_only: false,
        }
    }

    /// Hands the sink only the traces in which at least one of this
    /// recorder's calls was live: a call the inner model notes as
    /// [replayed](CallNote::replayed) does not send its trace (it still
    /// goes to the sinks of other recorders that took part in it).
    pub(crate) fn live_traces_only(mut self) -> Self {
        self.live_only = true;
        self
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
    /// (contract 2). A copy of the request is kept after, typed: it becomes
    /// JSON when the finished trace is first read, by a sink's writer thread
    /// rather than this task (see [`LiveSpan::describe_call`]).
    fn start_call(&self, req: &ModelRequest, streamed: bool) -> LiveSpan {
        let start = SpanStart {
            // `str::to_owned` copies; `to_string` would go through `Display`.
            key: self.key.as_ref().to_owned(),
            kind: SpanKind::Llm,
            input: SpanValue::default(),
            model: None,
            streamed,
        };
        let sink = (!self.live_only).then_some(&self.sink);
        let mut span = LiveSpan::start(current_span().as_ref(), start, sink);
        // A request too deep to copy safely is kept as a marker the store refuses (counted).
        let kept = if crate::json::canonical::request_too_deep(req) {
            crate::json::canonical::too_deep_request(req)
        } else {
            req.clone()
        };
        span.describe_call(kept, self.inner.info());
        span
    }

    /// Records the call as the inner model's `note` says, right after the
    /// inner model started it.
    fn noted(&self, span: &mut LiveSpan, note: CallNote) {
        if self.live_only && !note.replayed {
            span.context().add_sink(&self.sink);
        }
        if !note.replayed && self.inner.is_live() {
            // Real time from here: a paused tokio clock would invent it.
            span.watch_real_clock();
        }
        if note.key.is_some() || note.model.is_some() {
            span.relabel(note);
        }
    }
}

impl<M: Model> Model for Recorder<M> {
    fn info(&self) -> ModelInfo {
        self.inner.info()
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        let mut span = self.start_call(&req, false);
        let (call, note) = self.inner.generate_noted(req);
        self.noted(&mut span, note);
        Box::pin(async move {
            let result = call.await;
            let now = Instant::now();
            match &result {
                Ok(response) => {
                    // Kept typed: JSON when first read (see `SpanValue`).
                    let output = SpanValue::deferred_response(response.clone());
                    span.end(SpanStatus::Ok, Some(output), None, now);
                }
                Err(err) => span.end(SpanStatus::Error, None, Some(err.clone()), now),
            }
            result
        })
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let mut span = self.start_call(&req, true);
        let (open, note) = self.inner.stream_noted(req);
        self.noted(&mut span, note);
        Box::pin(async move {
            match open.await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::with_span;
    use crate::sink::Collector;
    use crate::testing::{Script, ScriptedModel, run_paused};

    /// A model that names every call it serves `planner` on `served-by`.
    struct Naming(ScriptedModel);

    impl Model for Naming {
        fn info(&self) -> ModelInfo {
            self.0.info()
        }
        fn generate(
            &self,
            req: ModelRequest,
        ) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
            self.0.generate(req)
        }
        fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
            self.0.stream(req)
        }
        fn generate_noted(
            &self,
            req: ModelRequest,
        ) -> (
            BoxFuture<'static, Result<ModelResponse, ModelError>>,
            CallNote,
        ) {
            let note = CallNote::new()
                .key("planner")
                .model(ModelInfo::new("served-by", "m"));
            (self.0.generate(req), note)
        }
    }

    #[test]
    fn a_recorder_records_the_call_as_its_inner_models_note_says() {
        let traces = Collector::new();
        let model = Recorder::new(
            Naming(ScriptedModel::new(Script::text("x"))),
            traces.clone(),
        );
        run_paused(async {
            with_span("turn", "t", async {
                model
                    .generate(ModelRequest::new("m").user("a"))
                    .await
                    .unwrap();
                // No note for streams: recorded as the recorder says.
                let _ = model
                    .stream(ModelRequest::new("m").user("b"))
                    .await
                    .unwrap();
            })
            .await;
        });
        let [trace] = traces.traces().try_into().unwrap();
        let calls: Vec<_> = trace
            .llm_spans()
            .map(|s| (s.key.as_str(), s.model.as_ref().unwrap().provider.as_str()))
            .collect();
        let plain = ScriptedModel::new(Script::text("x")).info().provider;
        assert_eq!(calls, [("planner", "served-by"), ("llm", plain.as_str())]);
    }

    #[test]
    fn a_live_traces_only_recorder_skips_traces_whose_calls_were_all_replayed() {
        struct Replayed(ScriptedModel, bool);
        impl Model for Replayed {
            fn info(&self) -> ModelInfo {
                self.0.info()
            }
            fn generate(
                &self,
                req: ModelRequest,
            ) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
                self.0.generate(req)
            }
            fn stream(
                &self,
                req: ModelRequest,
            ) -> BoxFuture<'static, Result<PartStream, ModelError>> {
                self.0.stream(req)
            }
            fn generate_noted(
                &self,
                req: ModelRequest,
            ) -> (
                BoxFuture<'static, Result<ModelResponse, ModelError>>,
                CallNote,
            ) {
                let note = if self.1 {
                    CallNote::replayed()
                } else {
                    CallNote::new()
                };
                (self.0.generate(req), note)
            }
        }
        let traces = Collector::new();
        let replayed = Recorder::new(
            Replayed(ScriptedModel::new(Script::text("x")), true),
            traces.clone(),
        )
        .live_traces_only();
        let live = Recorder::new(
            Replayed(ScriptedModel::new(Script::text("x")), false),
            traces.clone(),
        )
        .live_traces_only();
        run_paused(async {
            with_span("served", "s", async {
                replayed.generate(ModelRequest::new("m")).await.unwrap();
            })
            .await;
            with_span("mixed", "m", async {
                replayed.generate(ModelRequest::new("m")).await.unwrap();
                live.generate(ModelRequest::new("m")).await.unwrap();
            })
            .await;
        });
        let keys: Vec<_> = traces
            .traces()
            .iter()
            .map(|t| (t.key().to_owned(), t.spans.len()))
            .collect();
        assert_eq!(keys, [("mixed".to_owned(), 3)]);
    }
}

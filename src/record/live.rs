//! Spans while they run: the shared state of an unfinished trace and the
//! owned handle of each running span.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::time::Instant;

use super::health::SinkHandle;
use crate::model::{ModelError, ModelInfo, ModelRequest, ResponseAccumulator, StreamPart};
use crate::span::{RecordedPart, Span, SpanId, SpanKind, SpanStatus, Timing, Trace};

/// A trace that has not finished: its clock origin, id counter, finished
/// spans, and the sinks that get it when its last span ends.
struct LiveTrace {
    start: Instant,
    next_id: AtomicU64,
    state: Mutex<TraceState>,
}

#[derive(Default)]
struct TraceState {
    open: usize,
    sealed: bool,
    finished: Vec<Span>,
    sinks: Vec<SinkHandle>,
}

impl LiveTrace {
    fn lock(&self) -> std::sync::MutexGuard<'_, TraceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The span a task is running in: a handle to its trace and its id.
///
/// Obtained with [`current_span`](crate::context::current_span); carried into
/// spawned tasks by [`spawn`](crate::spawn) and
/// [`InSpan`](crate::InSpan). Cloning it is cheap.
#[derive(Clone)]
pub struct SpanContext {
    trace: Arc<LiveTrace>,
    id: SpanId,
}

impl SpanContext {
    /// The span's id within its trace.
    pub fn id(&self) -> SpanId {
        self.id
    }

    /// Also hands this span's trace to `sink` when it is finished (once per
    /// distinct sink, as a recorder's own sink is). False if the trace was
    /// already delivered.
    pub(crate) fn add_sink(&self, sink: &SinkHandle) -> bool {
        let mut state = self.trace.lock();
        if state.sealed {
            return false;
        }
        add_sink(&mut state.sinks, sink);
        true
    }
}

/// The call a [`Recorder`](crate::Recorder) is making, as its inner model
/// sees it while it starts the call.
struct Calling {
    span: SpanContext,
    label: RefCell<Option<CallLabel>>,
}

/// What the inner model says a recorded call's span is: a model replaying a
/// recorded call gives that call's key and model, so the replay's span tree
/// is the recording's.
pub(crate) struct CallLabel {
    pub key: String,
    pub model: Option<ModelInfo>,
}

tokio::task_local! {
    /// The call a [`Recorder`](crate::Recorder) is making, set only while it
    /// calls its inner model's `generate` or `stream` (synchronously, before
    /// the returned future is polled).
    static CALLING: Calling;
}

/// Runs `call` (the start of an inner model's call) as the call recorded by
/// `span`; returns its result and the label the inner model gave the call,
/// if any (see [`label_call`], [`calling_span`]).
pub(crate) fn while_calling<T>(
    span: SpanContext,
    call: impl FnOnce() -> T,
) -> (T, Option<CallLabel>) {
    let calling = Calling {
        span,
        label: RefCell::new(None),
    };
    CALLING.sync_scope(calling, || {
        let started = call();
        (started, CALLING.with(|c| c.label.take()))
    })
}

/// The `llm` span of the call being recorded, for a model wrapped in a
/// [`Recorder`](crate::Recorder), read in its `generate` or `stream` before it
/// returns its future: lets it mark that call's trace (e.g. hand it to a sink
/// of its own). `None` outside a recorder.
pub(crate) fn calling_span() -> Option<SpanContext> {
    CALLING.try_with(|c| c.span.clone()).ok()
}

/// Gives the call being recorded (if any) the span key and model of
/// `label`, from a model's `generate` or `stream` before it returns.
pub(crate) fn label_call(label: CallLabel) {
    let _ = CALLING.try_with(|c| *c.label.borrow_mut() = Some(label));
}

impl std::fmt::Debug for SpanContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanContext").field("id", &self.id).finish()
    }
}

/// What a running span needs to become a [`Span`].
pub(crate) struct SpanStart {
    pub key: String,
    pub kind: SpanKind,
    /// The input as JSON; a call's request is added after with
    /// [`LiveSpan::describe_call`], so its JSON is built off the hot path.
    pub input: Value,
    pub model: Option<ModelInfo>,
    pub streamed: bool,
}

/// A running span, owned by the code that runs it. Dropping it unfinished
/// ends it as cancelled (or as error while panicking), so it ends exactly once.
pub(crate) struct LiveSpan {
    trace: Arc<LiveTrace>,
    start: Instant,
    span: Option<Span>,
    /// A call's request not yet turned into the span's JSON input.
    pending_request: Option<ModelRequest>,
    /// When the last part at or after the finish part arrived.
    finished_at: Option<Instant>,
}

fn micros(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u64::MAX)
}

impl LiveSpan {
    /// Starts a span now: a child of `parent`, or the root of a new trace
    /// when there is no parent or the parent's trace was already delivered.
    ///
    /// A child's start instant is read under its trace's lock, together with
    /// its id, so ids follow start times even when spans of one trace start
    /// on several threads at once (contract 6).
    pub(crate) fn start(
        parent: Option<&SpanContext>,
        start: SpanStart,
        sink: Option<&SinkHandle>,
    ) -> Self {
        if let Some(parent) = parent {
            let mut state = parent.trace.lock();
            if !state.sealed {
                let now = Instant::now();
                state.open += 1;
                if let Some(sink) = sink {
                    add_sink(&mut state.sinks, sink);
                }
                let id = SpanId(parent.trace.next_id.fetch_add(1, Ordering::Relaxed));
                drop(state);
                let start_us = micros(parent.trace.start, now);
                return Self::new(
                    Arc::clone(&parent.trace),
                    id,
                    Some(parent.id),
                    start,
                    start_us,
                    now,
                );
            }
        }
        let now = Instant::now();
        let trace = Arc::new(LiveTrace {
            start: now,
            next_id: AtomicU64::new(1),
            state: Mutex::new(TraceState {
                open: 1,
                sinks: sink.into_iter().cloned().collect(),
                ..TraceState::default()
            }),
        });
        Self::new(trace, SpanId(0), None, start, 0, now)
    }

    fn new(
        trace: Arc<LiveTrace>,
        id: SpanId,
        parent: Option<SpanId>,
        start: SpanStart,
        start_us: u64,
        now: Instant,
    ) -> Self {
        Self {
            trace,
            start: now,
            finished_at: None,
            pending_request: None,
            span: Some(Span {
                id,
                parent,
                key: start.key,
                kind: start.kind,
                status: SpanStatus::Ok,
                timing: Timing {
                    start_us,
                    ..Timing::default()
                },
                input: start.input,
                output: None,
                model: start.model,
                streamed: start.streamed,
                parts: Vec::new(),
                error: None,
            }),
        }
    }

    /// The context that makes this span the parent of spans started under it.
    pub(crate) fn context(&self) -> SpanContext {
        SpanContext {
            trace: Arc::clone(&self.trace),
            id: self.span.as_ref().map_or(SpanId(0), |s| s.id),
        }
    }

    /// Turns a call's request into the span's JSON input, if not done yet.
    /// Cheap when there is nothing left to do.
    pub(crate) fn settle_input(&mut self) {
        let Some(req) = self.pending_request.take() else {
            return;
        };
        if let Some(span) = &mut self.span {
            span.input = crate::cassette::canonical::to_span_json(&req)
                .unwrap_or_else(|e| Value::String(e.to_string()));
        }
    }

    /// Sets a call's request and the model it is made to (before it ends).
    /// The request is kept as it is and becomes JSON later, in
    /// [`settle_input`](LiveSpan::settle_input), off the path to the first part.
    pub(crate) fn describe_call(&mut self, req: ModelRequest, model: ModelInfo) {
        if let Some(span) = &mut self.span {
            span.model = Some(model);
            self.pending_request = Some(req);
        }
    }

    /// Names the span as `label` says (before it ends): its key, and its
    /// model when the label has one.
    pub(crate) fn relabel(&mut self, label: CallLabel) {
        if let Some(span) = &mut self.span {
            span.key = label.key;
            if label.model.is_some() {
                span.model = label.model;
            }
        }
    }

    /// The stream opened at `now`.
    pub(crate) fn opened(&mut self, now: Instant) {
        let offset = micros(self.start, now);
        if let Some(span) = &mut self.span {
            span.timing.opened_us = Some(offset);
        }
    }

    /// A part arrived at `now`.
    pub(crate) fn part(&mut self, part: &StreamPart, now: Instant) {
        let offset = micros(self.start, now);
        let Some(span) = &mut self.span else { return };
        let timing = &mut span.timing;
        timing.first_part_us.get_or_insert(offset);
        if timing.ttft_us.is_none() && part.is_content() {
            timing.ttft_us = Some(offset);
        }
        if self.finished_at.is_some() || matches!(part, StreamPart::Finish { .. }) {
            self.finished_at = Some(now);
        }
        span.parts.push(RecordedPart {
            offset_us: offset,
            part: part.clone(),
        });
    }

    /// Whether the span has ended.
    pub(crate) fn is_ended(&self) -> bool {
        self.span.is_none()
    }

    /// Ends the span at `now` with `status`, `output` and `error`. For a stream
    /// with no explicit output, the output is what its parts add up to.
    pub(crate) fn end(
        &mut self,
        status: SpanStatus,
        output: Option<Value>,
        error: Option<ModelError>,
        now: Instant,
    ) {
        self.settle_input();
        let Some(mut span) = self.span.take() else {
            return;
        };
        span.timing.duration_us = micros(self.start, now);
        span.status = status;
        span.error = error;
        span.output = output.or_else(|| summarize_stream(&span));
        let delivery = {
            let mut state = self.trace.lock();
            state.finished.push(span);
            state.open -= 1;
            if state.open == 0 {
                state.sealed = true;
                Some((
                    std::mem::take(&mut state.finished),
                    std::mem::take(&mut state.sinks),
                ))
            } else {
                None
            }
        };
        // Delivered outside the lock: a slow sink never holds up another span.
        if let Some((spans, sinks)) = delivery {
            if let Some(trace) = Trace::new(spans) {
                let trace = Arc::new(trace);
                for sink in &sinks {
                    sink.deliver(&trace);
                }
            }
        }
    }
}

impl Drop for LiveSpan {
    fn drop(&mut self) {
        if self.span.is_none() {
            return;
        }
        let now = Instant::now();
        if std::thread::panicking() {
            let error = ModelError::other("the span's task panicked");
            self.end(SpanStatus::Error, None, Some(error), now);
        } else if let Some(finished_at) = self.finished_at {
            // The consumer stopped after the finish part: nothing was cut short,
            // and the call ended with its last part, not when the stream was dropped.
            self.end(SpanStatus::Ok, None, None, finished_at);
        } else {
            self.end(SpanStatus::Cancelled, None, None, now);
        }
    }
}

fn add_sink(sinks: &mut Vec<SinkHandle>, sink: &SinkHandle) {
    if !sinks.iter().any(|s| s.same_sink(sink)) {
        sinks.push(sink.clone());
    }
}

fn summarize_stream(span: &Span) -> Option<Value> {
    if !span.streamed || span.parts.is_empty() {
        return None;
    }
    let model = span
        .model
        .clone()
        .unwrap_or_else(|| ModelInfo::new("unknown", "unknown"));
    let mut acc = ResponseAccumulator::new(model);
    for p in &span.parts {
        acc.push(&p.part);
    }
    crate::cassette::canonical::to_span_json(&acc.finish()).ok()
}

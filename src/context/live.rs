//! Spans while they run: the shared state of an unfinished trace, the
//! owned handle of each running span, and the holds carried futures keep on
//! their trace.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use super::real_clock::{ClockPair, PausedClock};
use crate::model::{
    CallNote, ModelError, ModelInfo, ModelRequest, ResponseAccumulator, StreamPart,
};
use crate::sink::{SinkError, SinkHandle};
use crate::span::{RecordedPart, Span, SpanId, SpanKind, SpanStatus, SpanValue, Timing, Trace};

/// A trace that has not finished: its clock origin, id counter, finished
/// spans, and the sinks that get it when its last open span or hold ends.
struct LiveTrace {
    start: Instant,
    next_id: AtomicU64,
    state: Mutex<TraceState>,
}

#[derive(Default)]
struct TraceState {
    /// Running spans plus live [`TraceHold`]s; the trace is delivered when
    /// it drops to zero.
    open: usize,
    sealed: bool,
    finished: Vec<Span>,
    sinks: Vec<SinkHandle>,
    /// A live call of the trace ran on a paused tokio clock: its times are
    /// invented, so the trace is refused by every sink (counted as lost).
    paused_clock: Option<PausedClock>,
}

impl LiveTrace {
    fn lock(&self) -> std::sync::MutexGuard<'_, TraceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes one of the trace's open spans or holds, adding `span` to its
    /// finished spans; the last to close seals the trace and hands it to its
    /// sinks, so it is delivered exactly once.
    fn close(&self, span: Option<Span>) {
        let delivery = {
            let mut state = self.lock();
            if let Some(span) = span {
                state.finished.push(span);
            }
            state.open -= 1;
            if state.open == 0 {
                state.sealed = true;
                Some((
                    std::mem::take(&mut state.finished),
                    std::mem::take(&mut state.sinks),
                    state.paused_clock,
                ))
            } else {
                None
            }
        };
        // Delivered outside the lock: a slow sink never holds up another span.
        if let Some((spans, sinks, paused_clock)) = delivery {
            if let Some(trace) = Trace::new(spans) {
                let trace = Arc::new(trace);
                for sink in &sinks {
                    match paused_clock {
                        None => sink.deliver(&trace),
                        Some(clock) => sink.refuse(SinkError::PausedClock {
                            key: trace.key().to_owned(),
                            tokio_us: clock.tokio_us,
                            real_us: clock.real_us,
                        }),
                    }
                }
            }
        }
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

    /// Keeps this span's trace open (undelivered) until the returned hold is
    /// dropped, even if every span in it has ended by then: a future carried
    /// into another task holds its trace so the calls it makes still land in
    /// it. `None` if the trace was already delivered.
    pub(crate) fn hold(&self) -> Option<TraceHold> {
        let mut state = self.trace.lock();
        if state.sealed {
            return None;
        }
        state.open += 1;
        Some(TraceHold {
            trace: Arc::clone(&self.trace),
        })
    }
}

/// Keeps a trace open while it lives; made by [`SpanContext::hold`]. The
/// last of a trace's spans and holds to go delivers it.
pub(crate) struct TraceHold {
    trace: Arc<LiveTrace>,
}

impl Drop for TraceHold {
    fn drop(&mut self) {
        self.trace.close(None);
    }
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
    /// The input; a call's request is added after with
    /// [`LiveSpan::describe_call`], kept typed.
    pub input: SpanValue,
    pub model: Option<ModelInfo>,
    pub streamed: bool,
}

/// A running span, owned by the code that runs it. Dropping it unfinished
/// ends it as cancelled (or as error while panicking), so it ends exactly once.
pub(crate) struct LiveSpan {
    trace: Arc<LiveTrace>,
    start: Instant,
    span: Option<Span>,
    /// When the last part at or after the finish part arrived.
    finished_at: Option<Instant>,
    /// Both clocks at the start of a live call, to check at its end that
    /// tokio's clock followed real time.
    real_clock: Option<ClockPair>,
}

/// The most parts [`LiveSpan::reserve_parts`] makes room for ahead: a
/// stream's size hint is only a hint, and a wrong one must not cost more
/// than a few hundred KiB.
const MAX_RESERVED_PARTS: usize = 4096;

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
            real_clock: None,
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

    /// Sets a call's request and the model it is made to (before it ends).
    /// The request is kept as it is, typed: it becomes the span's JSON input
    /// when the finished span is first read (by a sink's writer thread, say),
    /// never on the call's own task (see [`SpanValue`]).
    pub(crate) fn describe_call(&mut self, req: ModelRequest, model: ModelInfo) {
        if let Some(span) = &mut self.span {
            span.model = Some(model);
            span.input = SpanValue::deferred_request(req);
        }
    }

    /// Names the span as the inner model's `note` says (before it ends):
    /// its key and its model, where the note has them.
    pub(crate) fn relabel(&mut self, note: CallNote) {
        if let Some(span) = &mut self.span {
            if let Some(key) = note.key {
                span.key = key;
            }
            if note.model.is_some() {
                span.model = note.model;
            }
        }
    }

    /// Marks the span as a live call: when it ends, tokio's clock must have
    /// followed real time since now, or the trace is refused with
    /// [`SinkError::PausedClock`] (its times would be invented).
    pub(crate) fn watch_real_clock(&mut self) {
        self.real_clock = Some(ClockPair::start());
    }

    /// The stream opened at `now`.
    pub(crate) fn opened(&mut self, now: Instant) {
        let offset = micros(self.start, now);
        if let Some(span) = &mut self.span {
            span.timing.opened_us = Some(offset);
        }
    }

    /// Makes room for `parts` more parts (at most [`MAX_RESERVED_PARTS`]),
    /// so keeping them does not copy the list as it grows.
    pub(crate) fn reserve_parts(&mut self, parts: usize) {
        if let Some(span) = &mut self.span {
            span.parts.reserve(parts.min(MAX_RESERVED_PARTS));
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
    /// with no explicit output, the output is what its parts add up to (a
    /// typed response, turned into JSON when first read).
    pub(crate) fn end(
        &mut self,
        status: SpanStatus,
        output: Option<SpanValue>,
        error: Option<ModelError>,
        now: Instant,
    ) {
        let Some(mut span) = self.span.take() else {
            return;
        };
        if let Some(paused) = self.real_clock.take().and_then(|c| c.paused_since()) {
            let mut state = self.trace.lock();
            state.paused_clock.get_or_insert(paused);
        }
        span.timing.duration_us = micros(self.start, now);
        span.status = status;
        span.error = error;
        span.output = output.or_else(|| summarize_stream(&span));
        self.trace.close(Some(span));
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

fn summarize_stream(span: &Span) -> Option<SpanValue> {
    if !span.streamed || span.parts.is_empty() {
        return None;
    }
    let model = span
        .model
        .clone()
        .unwrap_or_else(|| ModelInfo::new("unknown", "unknown"));
    let mut acc = ResponseAccumulator::new(model);
    // One allocation for the text instead of one per doubling.
    let text: usize = span
        .parts
        .iter()
        .map(|p| match &p.part {
            StreamPart::TextDelta { text } => text.len(),
            _ => 0,
        })
        .sum();
    acc.reserve_text(text);
    for p in &span.parts {
        acc.push(&p.part);
    }
    Some(SpanValue::deferred_response(acc.finish()))
}

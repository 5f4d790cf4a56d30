//! [`TracingSink`]: finished traces out as `tracing` spans.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tracing_core::field::Value;

use super::attributes::SpanAttributes;
use super::callsite::{FIELD_COUNT, FIELDS, LEVEL, metadata_for};
use crate::sink::{Sink, SinkError};
use crate::span::{SpanId, Trace};

/// A [`Sink`] that emits every finished trace as a tree of `tracing` spans,
/// named and attributed as the OpenTelemetry GenAI semantic conventions say.
///
/// Hand it to a [`Recorder`](crate::Recorder), alone or beside a store
/// through a [`Tee`](crate::sink::Tee). When a trace is delivered (once its
/// last span has ended) each recorded span becomes one `tracing` span, made
/// in parent → child order with its recorded parent set explicitly, then
/// closed, children first. These spans are only an export: they are made
/// after the fact and never entered, so they take no part in attribution,
/// which the task-local context does.
///
/// ## Names and fields
///
/// A call's span is named `chat {gen_ai.request.model}`; a task's span is
/// named by its key. The same name is in the `otel.name` field, which
/// `tracing-opentelemetry` uses as the exported span's name. Target
/// `tracedeck::export`, level `INFO`. Fields, each present only when known:
///
/// | field | from |
/// |---|---|
/// | `gen_ai.operation.name` | `chat` |
/// | `gen_ai.provider.name` | the recorder's model info |
/// | `gen_ai.request.model`, `.temperature`, `.max_tokens`, `.top_p`, `.seed`, `.stop_sequences` | the request |
/// | `gen_ai.request.top_k`, `.frequency_penalty`, `.presence_penalty` | the request's provider-specific fields |
/// | `gen_ai.response.id` | the stream's response metadata |
/// | `gen_ai.response.model`, `.finish_reasons` | the response (the provider's own finish strings) |
/// | `gen_ai.usage.input_tokens`, `.output_tokens`, `.cache_read.input_tokens`, `.cache_creation.input_tokens`, `.reasoning.output_tokens` | the usage |
/// | `gen_ai.response.time_to_first_chunk` | the span's TTFT in seconds (`f64`): the first *content* part, never framing; streams only |
/// | `error.type`, `otel.status_code = "ERROR"` | a failed span: the HTTP status, the provider's error type, or the kind of failure |
/// | `otel.kind` | `client` for calls, `internal` for tasks |
/// | `tracedeck.key`, `tracedeck.span_id`, `tracedeck.status` | the recording |
/// | `tracedeck.start_us`, `tracedeck.duration_us` | the recorded times |
///
/// `tracing` fields hold no lists, so `stop_sequences` and `finish_reasons`
/// are JSON arrays in a string (`["stop"]`).
///
/// ## Times
///
/// `tracing` cannot set a span's start or end: a subscriber stamps them
/// itself, at delivery. The recorded times are therefore fields:
/// `tracedeck.start_us` is the span's start in microseconds from the trace
/// start (the root's is 0) and `tracedeck.duration_us` its length, exact to
/// the microsecond on whatever clock recorded them (a paused test clock
/// included). Use those, not the subscriber's timestamps.
///
/// ## Cost
///
/// `accept` makes the spans synchronously on the call's task: creating a span
/// of a disabled callsite is a check, and an enabled one costs what the
/// installed subscriber does with it. It never fails and never blocks beyond
/// the subscriber itself. A subscriber that does slow I/O in `new_span`
/// should put that I/O behind its own queue (as `tracing-appender` does).
///
/// ```
/// use tracedeck::export::TracingSink;
/// use tracedeck::sink::Tee;
/// use tracedeck::{Collector, Model, ModelRequest, Recorder, Script, ScriptedModel, with_span};
/// # tracedeck::testing::run_paused(async {
/// let traces = Collector::new();
/// let model = Recorder::new(
///     ScriptedModel::new(Script::text("hi")),
///     Tee::new(traces.clone()).and(TracingSink::new()),
/// );
/// with_span("greet", "hello", async {
///     model.generate(ModelRequest::new("gpt-4o-mini").user("hello")).await
/// })
/// .await
/// .unwrap();
/// // With a subscriber installed, `greet` and its child `chat gpt-4o-mini`
/// // were emitted; the collector kept the trace as usual.
/// assert!(model.flush().await.is_clean());
/// assert_eq!(traces.len(), 1);
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink {
    _private: (),
}

impl TracingSink {
    /// A sink emitting to the current `tracing` dispatcher (the scoped one
    /// of the delivering thread, else the global one).
    pub fn new() -> Self {
        Self::default()
    }

    /// Emits `trace` as `tracing` spans now, as [`Sink::accept`] does.
    pub fn emit(&self, trace: &Trace) {
        emit(trace);
    }
}

/// What every [`TracingSink`] writes to: the one `tracing` dispatcher.
static TRACING_DESTINATION: u8 = 0;

impl Sink for TracingSink {
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        emit(&trace);
        Ok(())
    }

    /// Every `TracingSink` emits to the same dispatcher, so they are one
    /// destination: a trace whose calls went through several recorders, each
    /// with its own `TracingSink`, is emitted once.
    fn identity(&self) -> *const () {
        std::ptr::from_ref(&TRACING_DESTINATION).cast()
    }
}

/// Indexes into [`FIELDS`]; the order is the same.
#[derive(Clone, Copy)]
#[repr(usize)]
enum Field {
    OtelName,
    OtelKind,
    OtelStatusCode,
    ErrorType,
    Operation,
    Provider,
    RequestModel,
    Temperature,
    MaxTokens,
    TopP,
    TopK,
    Seed,
    FrequencyPenalty,
    PresencePenalty,
    StopSequences,
    ResponseId,
    ResponseModel,
    FinishReasons,
    InputTokens,
    OutputTokens,
    CacheReadInputTokens,
    CacheCreationInputTokens,
    ReasoningOutputTokens,
    TimeToFirstChunk,
    Key,
    SpanId,
    Status,
    StartUs,
    DurationUs,
}

/// The field values of one span, with the strings they borrow.
struct Values<'a> {
    attrs: &'a SpanAttributes,
    stop_sequences: Option<String>,
    finish_reasons: Option<String>,
}

impl<'a> Values<'a> {
    fn new(attrs: &'a SpanAttributes) -> Self {
        let list = |items: &[String]| {
            (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_default())
        };
        let g = attrs.gen_ai.as_ref();
        Self {
            attrs,
            stop_sequences: g.and_then(|g| list(&g.stop_sequences)),
            finish_reasons: g.and_then(|g| list(&g.finish_reasons)),
        }
    }

    fn slots<'s>(&'s self) -> [Option<&'s dyn Value>; FIELD_COUNT] {
        fn opt<T: Value>(v: &Option<T>) -> Option<&dyn Value> {
            v.as_ref().map(|v| v as &dyn Value)
        }
        let a = self.attrs;
        let mut out: [Option<&'s dyn Value>; FIELD_COUNT] = [None; FIELD_COUNT];
        let mut set = |field: Field, value: Option<&'s dyn Value>| out[field as usize] = value;
        set(Field::OtelName, Some(&a.name));
        set(Field::Key, Some(&a.key));
        set(Field::SpanId, Some(&a.span_id));
        set(Field::Status, Some(&a.status));
        set(Field::StartUs, Some(&a.start_us));
        set(Field::DurationUs, Some(&a.duration_us));
        set(Field::ErrorType, opt(&a.error_type));
        if a.error_type.is_some() {
            set(Field::OtelStatusCode, Some(&"ERROR"));
        }
        match &a.gen_ai {
            None => set(Field::OtelKind, Some(&"internal")),
            Some(g) => {
                set(Field::OtelKind, Some(&"client"));
                set(Field::Operation, Some(&g.operation));
                set(Field::Provider, opt(&g.provider));
                set(Field::RequestModel, opt(&g.request_model));
                set(Field::Temperature, opt(&g.temperature));
                set(Field::MaxTokens, opt(&g.max_tokens));
                set(Field::TopP, opt(&g.top_p));
                set(Field::TopK, opt(&g.top_k));
                set(Field::Seed, opt(&g.seed));
                set(Field::FrequencyPenalty, opt(&g.frequency_penalty));
                set(Field::PresencePenalty, opt(&g.presence_penalty));
                set(Field::StopSequences, opt(&self.stop_sequences));
                set(Field::ResponseId, opt(&g.response_id));
                set(Field::ResponseModel, opt(&g.response_model));
                set(Field::FinishReasons, opt(&self.finish_reasons));
                set(Field::InputTokens, opt(&g.input_tokens));
                set(Field::OutputTokens, opt(&g.output_tokens));
                set(Field::CacheReadInputTokens, opt(&g.cache_read_input_tokens));
                set(
                    Field::CacheCreationInputTokens,
                    opt(&g.cache_creation_input_tokens),
                );
                set(
                    Field::ReasoningOutputTokens,
                    opt(&g.reasoning_output_tokens),
                );
                set(Field::TimeToFirstChunk, opt(&g.time_to_first_chunk));
            }
        }
        out
    }
}

/// Emits `trace` as a tree of `tracing` spans: parents before children, each
/// with its recorded parent set explicitly; a span whose recorded parent is
/// missing (or part of a cycle in a hand-edited trace) becomes a root.
fn emit(trace: &Trace) {
    // What the `span!` macros check first: spans at this level are off
    // (at compile time, or for every installed subscriber).
    if !tracing::dispatcher::has_been_set()
        || LEVEL > tracing::level_filters::STATIC_MAX_LEVEL
        || LEVEL > tracing::level_filters::LevelFilter::current()
    {
        return;
    }
    let ids: HashSet<SpanId> = trace.spans.iter().map(|s| s.id).collect();
    let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
    let mut queue = VecDeque::new();
    for (i, span) in trace.spans.iter().enumerate() {
        match span.parent.filter(|p| ids.contains(p) && *p != span.id) {
            Some(parent) => children.entry(parent).or_default().push(i),
            None => queue.push_back((i, None)),
        }
    }
    let mut made: Vec<Option<tracing::Span>> = vec![None; trace.spans.len()];
    let mut order = Vec::with_capacity(trace.spans.len());
    let mut next_root = 0;
    loop {
        while let Some((i, parent)) = queue.pop_front() {
            if made[i].is_some() {
                continue;
            }
            let span = make_span(&trace.spans[i], parent);
            for &child in children.get(&trace.spans[i].id).into_iter().flatten() {
                queue.push_back((child, span.id()));
            }
            made[i] = Some(span);
            order.push(i);
        }
        // Spans only reachable through a parent cycle: start from the first one.
        match (next_root..made.len()).find(|&i| made[i].is_none()) {
            Some(i) => {
                next_root = i;
                queue.push_back((i, None));
            }
            None => break,
        }
    }
    // Close children before their parents.
    for i in order.into_iter().rev() {
        drop(made[i].take());
    }
}

fn make_span(span: &crate::span::Span, parent: Option<tracing::Id>) -> tracing::Span {
    let attrs = SpanAttributes::of(span);
    let meta = metadata_for(&attrs.name);
    let enabled = tracing::dispatcher::get_default(|dispatch| dispatch.enabled(meta));
    if !enabled {
        return tracing::Span::none();
    }
    let values = Values::new(&attrs);
    let slots = values.slots();
    let fields: Vec<tracing_core::Field> = meta.fields().iter().collect();
    debug_assert_eq!(fields.len(), FIELDS.len());
    let pairs: [(&tracing_core::Field, Option<&dyn Value>); FIELD_COUNT] =
        std::array::from_fn(|i| (&fields[i], slots[i]));
    tracing::Span::child_of(parent, meta, &meta.fields().value_set(&pairs))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;
    use crate::span::{Span, SpanKind};

    /// One span made: subscriber id, name, explicit parent.
    type Made = (u64, String, Option<u64>);

    /// Keeps every span made.
    #[derive(Default)]
    struct Spans {
        next: AtomicU64,
        made: Arc<Mutex<Vec<Made>>>,
    }

    impl Subscriber for Spans {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
            let parent = span.parent().map(Id::into_u64);
            let name = span.metadata().name().to_owned();
            self.made.lock().unwrap().push((id, name, parent));
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn emitted(spans: Vec<Span>) -> Vec<Made> {
        let subscriber = Spans::default();
        let made = Arc::clone(&subscriber.made);
        tracing::subscriber::with_default(subscriber, || {
            TracingSink::new().emit(&Trace::new(spans).unwrap());
        });
        Arc::try_unwrap(made).unwrap().into_inner().unwrap()
    }

    #[test]
    fn parents_come_before_children_whatever_the_id_order() {
        // A hand-edited trace whose child has a smaller id than its parent.
        let made = emitted(vec![
            Span::fixture(0, None, "root", SpanKind::Task),
            Span::fixture(1, Some(2), "inner", SpanKind::Task),
            Span::fixture(2, Some(0), "outer", SpanKind::Task),
        ]);
        let names: Vec<&str> = made.iter().map(|(_, n, _)| n.as_str()).collect();
        assert_eq!(names, ["root", "outer", "inner"]);
        assert_eq!(made[0].2, None);
        assert_eq!(made[1].2, Some(made[0].0));
        assert_eq!(made[2].2, Some(made[1].0));
    }

    #[test]
    fn a_missing_parent_or_a_cycle_makes_a_root_and_every_span_is_emitted_once() {
        let made = emitted(vec![
            Span::fixture(0, None, "root", SpanKind::Task),
            Span::fixture(1, Some(9), "orphan", SpanKind::Task),
            Span::fixture(2, Some(3), "loop-a", SpanKind::Task),
            Span::fixture(3, Some(2), "loop-b", SpanKind::Task),
        ]);
        let names: Vec<&str> = made.iter().map(|(_, n, _)| n.as_str()).collect();
        assert_eq!(names, ["root", "orphan", "loop-a", "loop-b"]);
        assert_eq!(made[1].2, None);
        assert_eq!(made[2].2, None);
        assert_eq!(made[3].2, Some(made[2].0));
    }
}

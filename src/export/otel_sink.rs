//! [`OtelSink`]: finished traces out as OpenTelemetry spans.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use opentelemetry::trace::{
    SpanContext, SpanId as OtelSpanId, SpanKind as OtelSpanKind, Status, TraceFlags, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SpanData, SpanEvents, SpanExporter, SpanLinks,
};

use super::attributes::{GenAi, SpanAttributes};
use crate::cassette::Redaction;
use crate::model::ContentPart;
use crate::sink::{DEFAULT_QUEUE_CAPACITY, QueuedSink, Sink, SinkError, SinkStats, TraceWriter};
use crate::span::{Span, SpanId, SpanKind, Trace};

/// The instrumentation scope of every exported span.
pub const SCOPE_NAME: &str = "tracedeck";

/// What an [`OtelSink`] exports besides the GenAI attributes, and when its
/// traces start in wall-clock time.
#[derive(Debug, Clone, Default)]
pub struct OtelOptions {
    anchor: Option<SystemTime>,
    part_events: bool,
    content: Option<Redaction>,
    capacity: Option<usize>,
}

impl OtelOptions {
    /// The defaults: anchored at delivery, no part events, no message content.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every trace starts at `anchor` (wall-clock): its spans start at
    /// `anchor + start_us` and end at `anchor + start_us + duration_us`.
    /// Without it, a trace is anchored at its delivery (see [`OtelSink`]).
    pub fn anchor(mut self, anchor: SystemTime) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// Exports every streamed part of a call as a span event named
    /// `tracedeck.part`, at the part's recorded arrival, with its kind in
    /// `tracedeck.part.type`.
    pub fn part_events(mut self, on: bool) -> Self {
        self.part_events = on;
        self
    }

    /// Exports message content (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.system_instructions`), with
    /// `redaction` applied to every span first. Off by default: content may
    /// hold personal data. Pass `Redaction::new()` to export it unredacted.
    pub fn content(mut self, redaction: Redaction) -> Self {
        self.content = Some(redaction);
        self
    }

    /// Holds at most `capacity` traces for the exporter (default
    /// [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }
}

/// A [`Sink`] that exports every finished trace as OpenTelemetry spans
/// through an `opentelemetry_sdk` [`SpanExporter`] (OTLP, stdout, the SDK's
/// in-memory exporter...), named and attributed as the OpenTelemetry GenAI
/// semantic conventions say.
///
/// ## What a span carries
///
/// One OpenTelemetry span per recorded span, with the attributes of
/// [`TracingSink`](super::TracingSink) (the same mapping: `gen_ai.*`,
/// `error.type`, `tracedeck.key`, `tracedeck.span_id`, `tracedeck.status`),
/// as typed values (`stop_sequences` and `finish_reasons` are string arrays).
/// A call's span is named `chat {gen_ai.request.model}`, kind CLIENT; a
/// task's is named by its key, kind INTERNAL. A failed span has status
/// `Error` (its description the error's message) and `error.type`.
/// `gen_ai.response.time_to_first_chunk` is the TTFT in seconds: the first
/// *content* part, never framing. Content and part events are opt-in
/// ([`OtelOptions`]).
///
/// ## Times
///
/// Recorded times are offsets from the trace start, on whatever clock
/// recorded them (a paused test clock included). A span is exported from
/// `anchor + start_us` to `anchor + start_us + duration_us`, exact to the
/// microsecond. The anchor is [`OtelOptions::anchor`] when given; otherwise
/// the wall-clock time at delivery ([`Sink::accept`], when the last span
/// has just ended) minus the trace's end (the latest span end), so the
/// trace ends when it was delivered.
///
/// ## Ids
///
/// Each trace gets a random trace id and each span a random span id (the
/// SDK's `RandomIdGenerator`): two exports of one recording are two
/// traces. Parent links are the recorded ones; a span whose recorded
/// parent is missing from the trace (or is itself) becomes a root.
///
/// ## Cost
///
/// It is a [`QueuedSink`] around the exporter: `accept` queues the trace
/// with the instant it was delivered, without blocking or locking anything
/// else; a writer thread builds the spans
/// and runs the exporter (to completion, one trace at a time). A failed
/// export is reported by the next [`flush`](Sink::flush), a full queue at
/// once; nothing is lost silently.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use opentelemetry_sdk::trace::InMemorySpanExporter;
/// use tracedeck::export::{OtelOptions, OtelSink};
/// use tracedeck::{Model, ModelRequest, Recorder, Script, ScriptedModel, with_span};
/// # tracedeck::testing::run_paused(async {
/// let exporter = InMemorySpanExporter::default();
/// let anchor = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let model = Recorder::new(
///     ScriptedModel::new(Script::text("hi")),
///     OtelSink::with_options(exporter.clone(), OtelOptions::new().anchor(anchor)),
/// );
/// with_span("greet", "hello", async {
///     model.generate(ModelRequest::new("gpt-4o-mini").user("hello")).await
/// })
/// .await
/// .unwrap();
/// assert!(model.flush().await.is_clean());
/// let spans = exporter.get_finished_spans().unwrap();
/// let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
/// assert_eq!(names, ["greet", "chat gpt-4o-mini"]);
/// assert_eq!(spans[1].parent_span_id, spans[0].span_context.span_id());
/// assert_eq!(spans[0].start_time, anchor);
/// # });
/// ```
pub struct OtelSink<E: SpanExporter + 'static> {
    queue: QueuedSink<OtelWriter<E>>,
}

impl<E: SpanExporter + 'static> Clone for OtelSink<E> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<E: SpanExporter + 'static> fmt::Debug for OtelSink<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelSink")
            .field("exporter", &self.queue.writer().exporter)
            .field("stats", &self.queue.stats())
            .finish()
    }
}

impl<E: SpanExporter + 'static> OtelSink<E> {
    /// A sink exporting through `exporter` with the default options.
    pub fn new(exporter: E) -> Self {
        Self::with_options(exporter, OtelOptions::new())
    }

    /// A sink exporting through `exporter` as `options` say.
    pub fn with_options(exporter: E, options: OtelOptions) -> Self {
        let capacity = options.capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY);
        let writer = OtelWriter {
            exporter,
            options,
            ids: RandomIdGenerator::default(),
        };
        Self {
            queue: QueuedSink::new(writer, capacity, "tracedeck-otel"),
        }
    }

    /// The exporter spans go to.
    pub fn exporter(&self) -> &E {
        &self.queue.writer().exporter
    }

    /// The sink's counters since it was made.
    pub fn stats(&self) -> SinkStats {
        self.queue.stats()
    }

    /// The spans `trace` is exported as, anchored at `anchor`: what the
    /// writer hands the exporter. Useful to inspect a mapping without an
    /// exporter round trip.
    pub fn spans(&self, trace: &Trace, anchor: SystemTime) -> Vec<SpanData> {
        self.queue.writer().spans(trace, anchor)
    }
}

/// Why an OTLP exporter could not be built.
#[cfg(feature = "otel-otlp")]
#[derive(Debug, thiserror::Error)]
#[error("cannot build the OTLP/HTTP exporter for `{endpoint}`: {source}")]
pub struct OtlpBuildError {
    /// The endpoint asked for.
    pub endpoint: String,
    /// What the OTLP crate said.
    #[source]
    pub source: opentelemetry_otlp::ExporterBuildError,
}

#[cfg(feature = "otel-otlp")]
impl OtelSink<opentelemetry_otlp::SpanExporter> {
    /// (feature `otel-otlp`) A sink exporting to an OpenTelemetry collector
    /// over OTLP/HTTP with protobuf bodies, one request per trace.
    /// `endpoint` is the full URL of the traces endpoint (a collector's is
    /// `http://host:4318/v1/traces`). The HTTP client is reqwest's blocking
    /// one, run on the sink's writer thread, so a call never waits for it;
    /// a request that fails or times out is reported by the next flush.
    ///
    /// # Errors
    /// The exporter could not be built (a bad endpoint, no HTTP client).
    pub fn otlp_http(endpoint: &str, options: OtelOptions) -> Result<Self, OtlpBuildError> {
        use opentelemetry_otlp::{Protocol, WithExportConfig};
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .map_err(|source| OtlpBuildError {
                endpoint: endpoint.to_owned(),
                source,
            })?;
        Ok(Self::with_options(exporter, options))
    }
}

impl<E: SpanExporter + 'static> Sink for OtelSink<E> {
    /// Queues `trace` with the instant of its delivery (the writer anchors
    /// it there): no lock, no map, no work beyond the queue's.
    fn accept(&self, trace: Arc<Trace>) -> Result<(), SinkError> {
        self.queue.accept(trace)
    }

    fn flush(&self) -> BoxFuture<'_, Vec<SinkError>> {
        Sink::flush(&self.queue)
    }

    fn identity(&self) -> *const () {
        Sink::identity(&self.queue)
    }
}

/// The latest end of any span of `trace`, from the trace start.
fn trace_end_us(trace: &Trace) -> u64 {
    trace
        .spans
        .iter()
        .map(|s| s.timing.start_us.saturating_add(s.timing.duration_us))
        .max()
        .unwrap_or(0)
}

/// The [`TraceWriter`] of an [`OtelSink`]: builds the spans of a trace and
/// runs the exporter.
struct OtelWriter<E> {
    exporter: E,
    options: OtelOptions,
    ids: RandomIdGenerator,
}

impl<E> OtelWriter<E> {
    fn spans(&self, trace: &Trace, anchor: SystemTime) -> Vec<SpanData> {
        let redacted;
        let trace = match &self.options.content {
            Some(redaction) if !redaction.is_empty() => {
                let mut copy = trace.clone();
                redaction.apply_to_trace(&mut copy);
                redacted = copy;
                &redacted
            }
            _ => trace,
        };
        let trace_id = self.ids.new_trace_id();
        let ids: HashMap<SpanId, OtelSpanId> = trace
            .spans
            .iter()
            .map(|s| (s.id, self.ids.new_span_id()))
            .collect();
        trace
            .spans
            .iter()
            .map(|span| {
                let parent = span
                    .parent
                    .filter(|p| *p != span.id)
                    .and_then(|p| ids.get(&p).copied())
                    .unwrap_or(OtelSpanId::INVALID);
                let context = SpanContext::new(
                    trace_id,
                    ids[&span.id],
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                );
                self.span_data(span, context, parent, anchor)
            })
            .collect()
    }

    fn span_data(
        &self,
        span: &Span,
        context: SpanContext,
        parent: OtelSpanId,
        anchor: SystemTime,
    ) -> SpanData {
        let attrs = SpanAttributes::of(span);
        let start = anchor + Duration::from_micros(attrs.start_us);
        let end = start + Duration::from_micros(attrs.duration_us);
        let mut kv = vec![
            KeyValue::new("tracedeck.key", attrs.key.clone()),
            KeyValue::new("tracedeck.span_id", clamp(attrs.span_id)),
            KeyValue::new("tracedeck.status", attrs.status),
        ];
        if let Some(error_type) = &attrs.error_type {
            kv.push(KeyValue::new("error.type", error_type.clone()));
        }
        if let Some(g) = &attrs.gen_ai {
            gen_ai_attributes(g, &mut kv);
            if self.options.content.is_some() {
                content_attributes(span, &mut kv);
            }
        }
        let status = match &attrs.error_type {
            Some(_) => Status::error(
                span.error
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string),
            ),
            None => Status::Unset,
        };
        let events = if self.options.part_events {
            span.parts
                .iter()
                .map(|p| {
                    let kind = serde_json::to_value(&p.part)
                        .ok()
                        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                        .unwrap_or_default();
                    opentelemetry::trace::Event::new(
                        "tracedeck.part",
                        start + Duration::from_micros(p.offset_us),
                        vec![
                            KeyValue::new("tracedeck.part.type", kind),
                            KeyValue::new("tracedeck.part.offset_us", clamp(p.offset_us)),
                        ],
                        0,
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut span_events = SpanEvents::default();
        span_events.events = events;
        SpanData {
            span_context: context,
            parent_span_id: parent,
            parent_span_is_remote: false,
            span_kind: if span.kind == SpanKind::Llm {
                OtelSpanKind::Client
            } else {
                OtelSpanKind::Internal
            },
            name: attrs.name.into(),
            start_time: start,
            end_time: end,
            attributes: kv,
            dropped_attributes_count: 0,
            events: span_events,
            links: SpanLinks::default(),
            status,
            instrumentation_scope: InstrumentationScope::builder(SCOPE_NAME)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        }
    }
}

/// An OpenTelemetry integer (`i64`) from a count.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn strings(items: &[String]) -> Value {
    Value::Array(Array::String(
        items.iter().cloned().map(StringValue::from).collect(),
    ))
}

/// The `gen_ai.*` attributes of a call, each only when known.
fn gen_ai_attributes(g: &GenAi, kv: &mut Vec<KeyValue>) {
    let mut string = |name: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            kv.push(KeyValue::new(name, v.clone()));
        }
    };
    string("gen_ai.provider.name", &g.provider);
    string("gen_ai.request.model", &g.request_model);
    string("gen_ai.response.id", &g.response_id);
    string("gen_ai.response.model", &g.response_model);
    kv.push(KeyValue::new("gen_ai.operation.name", g.operation));
    for (name, v) in [
        ("gen_ai.request.temperature", g.temperature),
        ("gen_ai.request.top_p", g.top_p),
        ("gen_ai.request.top_k", g.top_k),
        ("gen_ai.request.frequency_penalty", g.frequency_penalty),
        ("gen_ai.request.presence_penalty", g.presence_penalty),
        ("gen_ai.response.time_to_first_chunk", g.time_to_first_chunk),
    ] {
        if let Some(v) = v {
            kv.push(KeyValue::new(name, v));
        }
    }
    for (name, v) in [
        ("gen_ai.request.max_tokens", g.max_tokens),
        ("gen_ai.request.seed", g.seed),
        ("gen_ai.usage.input_tokens", g.input_tokens),
        ("gen_ai.usage.output_tokens", g.output_tokens),
        (
            "gen_ai.usage.cache_read.input_tokens",
            g.cache_read_input_tokens,
        ),
        (
            "gen_ai.usage.cache_creation.input_tokens",
            g.cache_creation_input_tokens,
        ),
        (
            "gen_ai.usage.reasoning.output_tokens",
            g.reasoning_output_tokens,
        ),
    ] {
        if let Some(v) = v {
            kv.push(KeyValue::new(name, clamp(v)));
        }
    }
    if !g.stop_sequences.is_empty() {
        kv.push(KeyValue::new(
            "gen_ai.request.stop_sequences",
            strings(&g.stop_sequences),
        ));
    }
    if !g.finish_reasons.is_empty() {
        kv.push(KeyValue::new(
            "gen_ai.response.finish_reasons",
            strings(&g.finish_reasons),
        ));
    }
}

/// One message part in the conventions' schema (`text`, `tool_call`,
/// `tool_call_response`); a part they have no type for (an image) keeps
/// its tracedeck JSON form.
fn part_json(part: &ContentPart) -> serde_json::Value {
    match part {
        ContentPart::Text { text } => serde_json::json!({ "type": "text", "content": text }),
        ContentPart::ToolCall {
            id,
            name,
            arguments,
        } => serde_json::json!({
            "type": "tool_call", "id": id, "name": name, "arguments": arguments
        }),
        ContentPart::ToolResult {
            call_id, content, ..
        } => serde_json::json!({
            "type": "tool_call_response", "id": call_id, "response": content
        }),
        other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
    }
}

/// The opt-in content attributes of a call (already redacted), as JSON
/// strings shaped as the conventions' message schemas (`role`, `parts`,
/// and the output's `finish_reason`). A call whose recorded request or
/// response no longer reads as one (a redaction replaced a whole message)
/// has no attribute for it.
fn content_attributes(span: &Span, kv: &mut Vec<KeyValue>) {
    if let Some(request) = span.request() {
        if let Some(system) = &request.system {
            let value = serde_json::json!([{ "type": "text", "content": system }]);
            kv.push(KeyValue::new(
                "gen_ai.system_instructions",
                value.to_string(),
            ));
        }
        let messages: Vec<serde_json::Value> = request
            .messages
            .iter()
            .map(|m| {
                let parts: Vec<serde_json::Value> = m.content.iter().map(part_json).collect();
                serde_json::json!({ "role": m.role, "parts": parts })
            })
            .collect();
        kv.push(KeyValue::new(
            "gen_ai.input.messages",
            serde_json::Value::Array(messages).to_string(),
        ));
    }
    if let Some(response) = span.response() {
        let mut parts = Vec::new();
        if !response.reasoning.is_empty() {
            parts.push(serde_json::json!({ "type": "reasoning", "content": response.reasoning }));
        }
        if !response.text.is_empty() {
            parts.push(serde_json::json!({ "type": "text", "content": response.text }));
        }
        if !response.refusal.is_empty() {
            parts.push(serde_json::json!({ "type": "refusal", "content": response.refusal }));
        }
        for call in &response.tool_calls {
            parts.push(serde_json::json!({
                "type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments
            }));
        }
        let mut message = serde_json::json!({ "role": "assistant", "parts": parts });
        if let Some(reason) = &response.finish_reason {
            message["finish_reason"] = serde_json::Value::String(reason.raw.clone());
        }
        kv.push(KeyValue::new(
            "gen_ai.output.messages",
            serde_json::Value::Array(vec![message]).to_string(),
        ));
    }
}

/// Why an export failed: the exporter's own error.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry export failed: {0}")]
pub struct ExportError(#[source] pub opentelemetry_sdk::error::OTelSdkError);

impl<E: SpanExporter + 'static> TraceWriter for OtelWriter<E> {
    fn write(&self, trace: &Trace) -> Result<(), SinkError> {
        self.write_accepted(trace, None)
    }

    const NEEDS_ACCEPT_TIME: bool = true;

    /// A trace without a given anchor ends at its delivery: the wall clock
    /// now, less the time it waited in the queue, less its length.
    fn write_accepted(&self, trace: &Trace, accepted: Option<Instant>) -> Result<(), SinkError> {
        let anchor = self.options.anchor.unwrap_or_else(|| {
            let waited = accepted.map_or(Duration::ZERO, |at| at.elapsed());
            SystemTime::now()
                .checked_sub(waited.saturating_add(Duration::from_micros(trace_end_us(trace))))
                .unwrap_or(SystemTime::UNIX_EPOCH)
        });
        let batch = self.spans(trace, anchor);
        futures::executor::block_on(self.exporter.export(batch))
            .map_err(|e| SinkError::write_failed(trace.key(), ExportError(e)))
    }

    fn destination(&self) -> String {
        format!("OpenTelemetry exporter {:?}", self.exporter)
    }
}
